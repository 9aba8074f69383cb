package visa_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// fakeModel is an OpenAI-compatible chat-completions server on 127.0.0.1 whose
// answers a test scripts.
type fakeModel struct {
	srv   *httptest.Server
	calls atomic.Int64
	reply func(n int64, req modelRequest) modelReply

	mu       sync.Mutex
	requests []modelRequest
}

// modelRequest is what the fake model understood of a request.
type modelRequest struct {
	Model  string
	Auth   string
	Level  string
	App    visa.Application
	Format string // the response_format type
	Schema string // the JSON schema's name, for json_schema
}

// modelReply is one scripted answer.
type modelReply struct {
	Status     int               // 0: 200
	Header     map[string]string // extra response headers
	Content    string            // the assistant message
	Refusal    string
	NoChoices  bool
	Delay      time.Duration // before answering, or until the client gives up
	ErrMessage string        // for an error status
	Raw        string        // the whole body of a 200 answer, instead of a chat completion
}

// newFakeModel starts a fake model answering with reply, closed in t.Cleanup.
func newFakeModel(t testing.TB, reply func(n int64, req modelRequest) modelReply) *fakeModel {
	t.Helper()
	m := &fakeModel{reply: reply}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

// url is the API root to give the decider.
func (m *fakeModel) url() string { return m.srv.URL + "/v1" }

func (m *fakeModel) serve(w http.ResponseWriter, r *http.Request) {
	n := m.calls.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, "no such endpoint "+r.URL.Path, http.StatusNotFound)
		return
	}
	var body struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
		ResponseFormat struct {
			Type       string `json:"type"`
			JSONSchema struct {
				Name string `json:"name"`
			} `json:"json_schema"`
		} `json:"response_format"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil || len(body.Messages) != 2 {
		http.Error(w, fmt.Sprintf("bad request %s: %v", b, err), http.StatusBadRequest)
		return
	}
	req := modelRequest{
		Model:  body.Model,
		Auth:   r.Header.Get("Authorization"),
		Format: body.ResponseFormat.Type,
		Schema: body.ResponseFormat.JSONSchema.Name,
	}
	if rest, ok := strings.CutPrefix(body.Messages[0].Content, "You are level "); ok {
		req.Level, _, _ = strings.Cut(rest, " ")
	}
	if err := json.Unmarshal([]byte(body.Messages[1].Content), &req.App); err != nil {
		http.Error(w, "user message is no application: "+err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	m.requests = append(m.requests, req)
	m.mu.Unlock()

	rep := m.reply(n, req)
	if rep.Delay > 0 {
		select {
		case <-time.After(rep.Delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.Status != 0 && rep.Status != http.StatusOK {
		w.WriteHeader(rep.Status)
		msg, _ := json.Marshal(rep.ErrMessage)
		fmt.Fprintf(w, `{"error":{"message":%s,"type":"fake","code":null,"param":null}}`, msg)
		return
	}
	if rep.Raw != "" {
		fmt.Fprint(w, rep.Raw)
		return
	}
	choices := "[]"
	if !rep.NoChoices {
		content, _ := json.Marshal(rep.Content)
		refusal := []byte("null")
		if rep.Refusal != "" {
			refusal, _ = json.Marshal(rep.Refusal)
		}
		choices = fmt.Sprintf(`[{"index":0,"message":{"role":"assistant","content":%s,"refusal":%s},"finish_reason":"stop","logprobs":null}]`, content, refusal)
	}
	fmt.Fprintf(w, `{"id":"chatcmpl-%d","object":"chat.completion","created":%d,"model":%q,"choices":%s}`,
		n, time.Now().Unix(), body.Model, choices)
}

// answer returns a well-formed answer of f.
func answer(f visa.Finding) modelReply {
	if f.Reasons == nil {
		f.Reasons = []string{}
	}
	b, _ := json.Marshal(map[string]any{"decision": f.Decision, "reasons": f.Reasons, "confidence": f.Confidence})
	return modelReply{Content: string(b)}
}

// rulesAnswer answers as the rules would.
func rulesAnswer(req modelRequest) modelReply {
	f, _ := visa.Rules{}.Decide(context.Background(), req.Level, req.App)
	return answer(f)
}

// llmApp returns a business application every level's rules pass.
func llmApp(id string) visa.Application {
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	return visa.Application{
		ApplicationID: id,
		VisaType:      "business",
		SubmittedAt:   now,
		Applicant:     visa.Applicant{Name: "Ines Duarte", Nationality: "PRT", BirthDate: visa.DateOf(now.AddDate(-40, 0, 0))},
		Passport:      visa.Passport{Number: "P7654321", Expiry: visa.DateOf(now.AddDate(6, 0, 0))},
		StayDays:      10,
		Funds:         10 * 150 * 2,
		Invitation:    &visa.Letter{Issuer: "Nordlicht GmbH", Reference: "INV-9", IssuedOn: visa.DateOf(now.AddDate(0, 0, -20))},
	}
}

// newLLM returns an LLM decider on m with fast test settings changed by edit.
func newLLM(t testing.TB, m *fakeModel, edit func(*visa.LLMConfig)) *visa.LLMDecider {
	t.Helper()
	cfg := visa.LLMConfig{
		BaseURL:    m.url(),
		Model:      "fake-model",
		APIKey:     "test-key",
		Timeout:    2 * time.Second,
		Attempts:   3,
		Backoff:    time.Millisecond,
		MaxBackoff: 50 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	d, err := visa.NewLLMDecider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLLMAnswers pins the request (model, key, structured output, the level and
// application in the prompt) and that well-formed answers become findings as
// they are.
func TestLLMAnswers(t *testing.T) {
	want := map[string]visa.Finding{
		"A": {Decision: visa.Pass, Confidence: 0.97},
		"B": {Decision: visa.Pass, Reasons: []string{"funds are tight"}, Confidence: 0.6},
		"C": {Decision: visa.Rejected, Reasons: []string{"the letter is forged"}, Confidence: 0.9},
		"D": {Decision: visa.NeedsReview, Reasons: []string{"unclear history", "two refusals"}, Confidence: 0},
	}
	m := newFakeModel(t, func(_ int64, req modelRequest) modelReply { return answer(want[req.Level]) })
	for _, format := range []string{"", "json_object"} {
		d := newLLM(t, m, func(c *visa.LLMConfig) { c.ResponseFormat = format })
		for _, level := range []string{"A", "B", "C", "D"} {
			got, err := d.Decide(t.Context(), level, llmApp("x1"))
			if err != nil {
				t.Fatalf("%s: Decide = %v", level, err)
			}
			w := want[level]
			if got.Decision != w.Decision || !slices.Equal(got.Reasons, w.Reasons) || got.Confidence != w.Confidence {
				t.Errorf("format %q level %s: finding %+v, want %+v", format, level, got, w)
			}
		}
		if s := d.Stats(); s != (visa.LLMStats{Calls: 4}) {
			t.Errorf("stats %+v, want 4 calls and nothing else", s)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range m.requests {
		wantFormat, wantSchema := "json_schema", "finding"
		if i >= 4 {
			wantFormat, wantSchema = "json_object", ""
		}
		if r.Model != "fake-model" || r.Auth != "Bearer test-key" || r.Format != wantFormat || r.Schema != wantSchema ||
			r.App.ApplicationID != "x1" || r.Level != []string{"A", "B", "C", "D"}[i%4] {
			t.Errorf("request %d = %+v, want model fake-model, key test-key, format %s, level %s and the application", i, r, wantFormat, []string{"A", "B", "C", "D"}[i%4])
		}
	}
}

// TestLLMMalformedAnswers pins that an answer the decider cannot use becomes a
// needs_review finding whose reasons say what is wrong and quote the answer,
// after one call: asking again would not make the model better.
func TestLLMMalformedAnswers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply modelReply
		want  string
	}{
		{"not JSON", modelReply{Content: "I think this applicant is fine."}, "not the JSON asked for"},
		{"empty", modelReply{Content: "  "}, "empty answer"},
		{"no choices", modelReply{NoChoices: true}, "empty answer"},
		{"a JSON array", modelReply{Content: `["pass"]`}, "not the JSON asked for"},
		{"wrong fields", modelReply{Content: `{"verdict":"approve","why":"ok"}`}, `unknown field "verdict"`},
		{"missing fields", modelReply{Content: `{"decision":"pass"}`}, "missing reasons, confidence"},
		{"wrong types", modelReply{Content: `{"decision":"pass","reasons":"none","confidence":"high"}`}, "cannot unmarshal"},
		{"invalid decision", modelReply{Content: `{"decision":"approved","reasons":["fine"],"confidence":0.9}`}, `unknown decision "approved"`},
		{"confidence above 1", modelReply{Content: `{"decision":"pass","reasons":[],"confidence":1.5}`}, "confidence 1.5 is not between 0 and 1"},
		{"negative confidence", modelReply{Content: `{"decision":"pass","reasons":[],"confidence":-0.1}`}, "confidence -0.1 is not between 0 and 1"},
		{"rejection without reason", modelReply{Content: `{"decision":"rejected","reasons":[" "],"confidence":1}`}, `decision "rejected" without a reason`},
		{"two objects", modelReply{Content: `{"decision":"pass","reasons":[],"confidence":1}{}`}, "more after the object"},
		{"refusal", modelReply{Refusal: "I cannot assess visa applications."}, "the model refused to answer for level B: I cannot assess visa applications."},
		{"no chat completion", modelReply{Raw: `<html>502 Bad Gateway</html>`}, "unusable: unreadable response: error parsing response json"},
		{"truncated body", modelReply{Raw: `{"id":"c1","choices":[{"message":{"content":"{\"decision\"`}, "unusable: unreadable response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeModel(t, func(int64, modelRequest) modelReply { return tc.reply })
			d := newLLM(t, m, nil)
			f, err := d.Decide(t.Context(), "B", llmApp("x1"))
			if err != nil {
				t.Fatalf("Decide = %v, want a needs_review finding", err)
			}
			if f.Decision != visa.NeedsReview || !strings.Contains(strings.Join(f.Reasons, " | "), tc.want) {
				t.Errorf("finding %+v, want needs_review with a reason containing %q", f, tc.want)
			}
			if n := m.calls.Load(); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}

	// A Markdown fence around good JSON is forgiven.
	m := newFakeModel(t, func(int64, modelRequest) modelReply {
		return modelReply{Content: "```json\n{\"decision\":\"pass\",\"reasons\":[],\"confidence\":0.8}\n```"}
	})
	if f, err := newLLM(t, m, nil).Decide(t.Context(), "B", llmApp("x1")); err != nil || f.Decision != visa.Pass {
		t.Errorf("fenced answer: %+v, %v; want pass", f, err)
	}
}

// TestLLMRetries pins the retries: timeouts, rate limits and server errors are
// retried with backoff, honouring Retry-After, and the answer of a later attempt
// is used.
func TestLLMRetries(t *testing.T) {
	pass := answer(visa.Finding{Decision: visa.Pass, Confidence: 1})
	for _, tc := range []struct {
		name    string
		first   modelReply // of the first two calls
		minTime time.Duration
	}{
		{"timeout", modelReply{Delay: time.Minute}, 2 * 100 * time.Millisecond},
		{"server error", modelReply{Status: 503, ErrMessage: "overloaded"}, 0},
		{"rate limit with Retry-After-Ms", modelReply{Status: 429, ErrMessage: "slow down", Header: map[string]string{"Retry-After-Ms": "150"}}, 2 * 150 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeModel(t, func(n int64, _ modelRequest) modelReply {
				if n <= 2 {
					return tc.first
				}
				return pass
			})
			d := newLLM(t, m, func(c *visa.LLMConfig) {
				c.MaxBackoff = time.Second
				if tc.first.Delay > 0 {
					c.Timeout = 100 * time.Millisecond
				}
			})
			start := time.Now()
			f, err := d.Decide(t.Context(), "C", llmApp("x1"))
			if err != nil || f.Decision != visa.Pass {
				t.Fatalf("Decide = %+v, %v; want the third attempt's pass", f, err)
			}
			if el := time.Since(start); el < tc.minTime {
				t.Errorf("took %v, want at least %v", el, tc.minTime)
			}
			if s := d.Stats(); s != (visa.LLMStats{Calls: 3, Retries: 2}) {
				t.Errorf("stats %+v, want 3 calls, 2 retries", s)
			}
		})
	}

	// Retry-After in seconds is honoured too: the one retry waits a second.
	m := newFakeModel(t, func(n int64, _ modelRequest) modelReply {
		if n == 1 {
			return modelReply{Status: 429, ErrMessage: "rate limited", Header: map[string]string{"Retry-After": "1"}}
		}
		return pass
	})
	d := newLLM(t, m, func(c *visa.LLMConfig) { c.MaxBackoff = 5 * time.Second })
	start := time.Now()
	if f, err := d.Decide(t.Context(), "C", llmApp("x1")); err != nil || f.Decision != visa.Pass {
		t.Fatalf("Decide = %+v, %v; want pass after the wait", f, err)
	}
	if el := time.Since(start); el < time.Second || el > 3*time.Second {
		t.Errorf("took %v, want about the 1 s the server asked for", el)
	}
}

// TestLLMGivesUp pins what happens when every attempt fails, or a request is
// refused outright: with the default OnFailureReview the application ends as
// needs_review saying why; with OnFailureDeadLetter Decide returns an error that
// the level does not retry (topology.ErrPermanent) but dead-letters. A waiting
// Retry-After is capped by MaxBackoff, so no Decide is stuck.
func TestLLMGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reply  modelReply
		calls  int64
		reason string
	}{
		{"timeouts", modelReply{Delay: time.Minute}, 3, `model "fake-model" failed 3 times for level D: no answer within 50ms`},
		{"rate limited", modelReply{Status: 429, ErrMessage: "quota exceeded", Header: map[string]string{"Retry-After": "3600"}}, 3, `model "fake-model" failed 3 times for level D: HTTP 429: quota exceeded`},
		{"server errors", modelReply{Status: 500, ErrMessage: "boom"}, 3, "HTTP 500: boom"},
		{"bad key", modelReply{Status: 401, ErrMessage: "invalid api key"}, 1, `model "fake-model" failed for level D: HTTP 401: invalid api key`},
		{"unknown model", modelReply{Status: 404, ErrMessage: "no such model"}, 1, "HTTP 404: no such model"},
	} {
		for _, mode := range []string{visa.OnFailureReview, visa.OnFailureDeadLetter} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				m := newFakeModel(t, func(int64, modelRequest) modelReply { return tc.reply })
				d := newLLM(t, m, func(c *visa.LLMConfig) {
					c.OnFailure = mode
					if tc.reply.Delay > 0 {
						c.Timeout = 50 * time.Millisecond
					}
				})
				start := time.Now()
				f, err := d.Decide(t.Context(), "D", llmApp("x1"))
				if el := time.Since(start); el > 5*time.Second {
					t.Errorf("gave up after %v, want within Attempts*(Timeout+MaxBackoff)", el)
				}
				if n := m.calls.Load(); n != tc.calls {
					t.Errorf("%d calls, want %d", n, tc.calls)
				}
				if s := d.Stats(); s.Failed != 1 {
					t.Errorf("stats %+v, want 1 failed", s)
				}
				if mode == visa.OnFailureReview {
					if err != nil || f.Decision != visa.NeedsReview || len(f.Reasons) != 1 || !strings.Contains(f.Reasons[0], tc.reason) {
						t.Fatalf("Decide = %+v, %v; want needs_review with reason %q", f, err, tc.reason)
					}
					return
				}
				if err == nil || !errors.Is(err, topology.ErrPermanent) || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("Decide = %+v, %v; want an error wrapping topology.ErrPermanent with %q", f, err, tc.reason)
				}
			})
		}
	}
}

// TestLLMStops pins that a level stopping while the decider waits (for an answer
// or between attempts) gets ctx's error at once, not a finding: the record then
// stays uncommitted and is decided after the restart.
func TestLLMStops(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply modelReply
	}{
		{"waiting for an answer", modelReply{Delay: time.Minute}},
		{"waiting to retry", modelReply{Status: 429, Header: map[string]string{"Retry-After": "60"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeModel(t, func(int64, modelRequest) modelReply { return tc.reply })
			d := newLLM(t, m, func(c *visa.LLMConfig) { c.Timeout, c.MaxBackoff = time.Minute, time.Minute })
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			f, err := d.Decide(ctx, "A", llmApp("x1"))
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, topology.ErrPermanent) {
				t.Fatalf("Decide = %+v, %v; want ctx's error, not a permanent one", f, err)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("returned after %v, want right after ctx ended", el)
			}
		})
	}
}

// TestLLMConfig pins the configuration errors.
func TestLLMConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  visa.LLMConfig
		want string
	}{
		{visa.LLMConfig{}, "no model"},
		{visa.LLMConfig{Model: "m", OnFailure: "drop"}, `on failure "drop"`},
		{visa.LLMConfig{Model: "m", ResponseFormat: "xml"}, `response format "xml"`},
	} {
		if _, err := visa.NewLLMDecider(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewLLMDecider(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// TestLLMPipelineOnBroker runs every level on the embedded broker with the LLM
// decider against the fake model, which answers as the rules would except for
// some applications: malformed answers at level B, a first attempt that times
// out or is rate limited at every level, and a level C that never answers in
// time. Every application reaches a final decision: approved despite the slow
// or rate-limited attempts, needs_review where the answer was unusable or the
// model down. With OnFailureDeadLetter, the applications of the model that is
// down go to level C's dead-letter topic instead, and the others are decided
// as before: none is lost, none is stuck.
func TestLLMPipelineOnBroker(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{} // id/level -> calls
	m := newFakeModel(t, func(_ int64, req modelRequest) modelReply {
		id := req.App.ApplicationID
		mu.Lock()
		seen[id+"/"+req.Level]++
		first := seen[id+"/"+req.Level] == 1
		mu.Unlock()
		kind := strings.Split(id, "-")[1]
		switch {
		case kind == "bad" && req.Level == "B":
			return modelReply{Content: `{"decision": "approve", "reasons": ["looks fine"], "confidence": 0.9}`}
		case kind == "slow" && first:
			return modelReply{Delay: time.Minute}
		case kind == "limited" && first:
			return modelReply{Status: 429, ErrMessage: "rate limited", Header: map[string]string{"Retry-After-Ms": "100"}}
		case kind == "down" && req.Level == "C":
			return modelReply{Delay: time.Minute}
		}
		return rulesAnswer(req)
	})
	decider := func(mode string) *visa.LLMDecider {
		return newLLM(t, m, func(c *visa.LLMConfig) {
			c.Timeout, c.Attempts, c.Backoff, c.MaxBackoff, c.OnFailure = 600*time.Millisecond, 2, 10*time.Millisecond, time.Second, mode
		})
	}
	kinds := []string{"ok", "bad", "slow", "limited", "down"}

	g, err := visa.Graph(decider(visa.OnFailureReview))
	if err != nil {
		t.Fatal(err)
	}
	addrs := setUp(t, g, visa.DefaultRoutes)
	tl := newTail(t, addrs, append([]string{visa.Final.Name}, deadLetterTopics()...)...)

	for _, mode := range []string{visa.OnFailureReview, visa.OnFailureDeadLetter} {
		d := decider(mode)
		g, err := visa.Graph(d)
		if err != nil {
			t.Fatal(err)
		}
		stop := running(t, g, addrs, t.TempDir())
		var recs []*kgo.Record
		ids := map[string][]string{} // kind -> IDs
		for _, kind := range kinds {
			for i := range 3 {
				id := fmt.Sprintf("%s-%s-%d", mode[:1], kind, i)
				ids[kind] = append(ids[kind], id)
				b, _ := json.Marshal(valid(id, "business"))
				recs = append(recs, &kgo.Record{Key: []byte(id), Value: b})
			}
		}
		kafkatest.Produce(t, addrs, visa.Applications.Name, recs...)

		decided := slices.Concat(ids["ok"], ids["bad"], ids["slow"], ids["limited"])
		if mode == visa.OnFailureReview {
			decided = append(decided, ids["down"]...)
		} else {
			tl.wait(t, time.Minute, visa.DeadLetters("C").Name, ids["down"])
		}
		tl.wait(t, time.Minute, visa.Final.Name, decided)
		stop()
		tl.drain(t)

		check := func(id, decision string, levels []string, reason string) {
			t.Helper()
			fs := tl.finals(t, id)
			if len(fs) != 1 {
				t.Errorf("%s: %d final decisions, want 1", id, len(fs))
				return
			}
			f := fs[0]
			if f.Decision != decision || !slices.Equal(pathLevels(f.Path), levels) || !strings.Contains(strings.Join(f.Reasons, " | "), reason) {
				t.Errorf("%s: %s after %v with reasons %q; want %s after %v with a reason containing %q",
					id, f.Decision, pathLevels(f.Path), f.Reasons, decision, levels, reason)
			}
		}
		all := []string{"A", "B", "C", "D"}
		for _, id := range slices.Concat(ids["ok"], ids["slow"], ids["limited"]) {
			check(id, visa.Approved, all, "")
		}
		for _, id := range ids["bad"] {
			check(id, visa.NeedsReview, []string{"A", "B"}, `B: level B: the model's answer is unusable: unknown decision "approve"`)
		}
		for _, id := range ids["down"] {
			if mode == visa.OnFailureReview {
				check(id, visa.NeedsReview, []string{"A", "B", "C"}, `C: model "fake-model" failed 2 times for level C: no answer within 600ms`)
				continue
			}
			if fs := tl.finals(t, id); len(fs) != 0 {
				t.Errorf("%s: final decisions %+v, want none: it is dead-lettered", id, fs)
			}
			dl := tl.records(visa.DeadLetters("C").Name, id)
			if len(dl) != 1 {
				t.Errorf("%s: %d dead letters at level C, want 1", id, len(dl))
				continue
			}
			var errText string
			for _, h := range dl[0].Headers {
				if h.Key == topology.HeaderError {
					errText = string(h.Value)
				}
			}
			if !strings.Contains(errText, "failed 2 times for level C") || !strings.Contains(errText, "permanent") {
				t.Errorf("%s: dead letter error %q, want the model's failure, permanent", id, errText)
			}
		}
		for _, l := range visa.Levels {
			for _, id := range decided {
				if dl := tl.records(visa.DeadLetters(l.Name).Name, id); len(dl) > 0 {
					t.Errorf("%s dead-lettered at level %s", id, l.Name)
				}
			}
		}
		t.Logf("%s: %+v", mode, d.Stats())
	}
}
