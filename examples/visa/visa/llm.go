package visa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/sluicehq/sluice/topology"
)

// What an [LLMDecider] does once a model call has failed for good: every
// attempt timed out, was rate limited or failed on the server, or the server
// refused the request outright (a bad key, an unknown model).
const (
	// OnFailureReview ends the application's path with a needs_review finding
	// whose reason says what failed. Nothing reaches a dead-letter topic; the
	// application gets its final decision at once. The default.
	OnFailureReview = "needs_review"
	// OnFailureDeadLetter makes Decide return an error wrapping
	// topology.ErrPermanent: the level does not retry it (the LLM decider has
	// retried already) and sends the record to its dead-letter topic, from which
	// it can be replayed once the model is back.
	OnFailureDeadLetter = "dead_letter"
)

// Defaults of [LLMConfig].
const (
	DefaultLLMTimeout    = 30 * time.Second
	DefaultLLMAttempts   = 3
	DefaultLLMBackoff    = 500 * time.Millisecond
	DefaultLLMMaxBackoff = 10 * time.Second
)

// LLMConfig configures an [LLMDecider].
type LLMConfig struct {
	// BaseURL is the OpenAI-compatible server's API root, such as
	// "http://127.0.0.1:8080/v1"; empty means openai-go's default
	// (OPENAI_BASE_URL, else OpenAI's API).
	BaseURL string
	// Model names the model to ask. Required.
	Model string
	// APIKey is sent as a bearer token; empty means openai-go's default
	// (OPENAI_API_KEY), and none if that is unset too.
	APIKey string
	// Timeout bounds each attempt; 0 means [DefaultLLMTimeout]. A timed-out
	// attempt is retried.
	Timeout time.Duration
	// Attempts is how many times one Decide may call the model, the first call
	// included; 0 means [DefaultLLMAttempts]. Timeouts, connection errors, 408,
	// 409, 429 and 5xx answers are retried; other HTTP errors are not.
	Attempts int
	// Backoff is the wait after the first failed attempt, doubled after each
	// further one, without jitter; 0 means [DefaultLLMBackoff]. After an answer
	// with Retry-After or Retry-After-Ms, such as a 429, the wait is at least
	// what the server asks for.
	Backoff time.Duration
	// MaxBackoff caps every wait, the server's included; 0 means
	// [DefaultLLMMaxBackoff].
	MaxBackoff time.Duration
	// OnFailure is [OnFailureReview] (the default, for "") or
	// [OnFailureDeadLetter].
	OnFailure string
	// ResponseFormat is "json_schema" (the default, for ""): the request carries
	// a strict JSON schema of the answer; or "json_object", for servers that do
	// not support schemas: the prompt describes the answer and the server is
	// asked for any JSON object. Either way the answer is validated.
	ResponseFormat string
	// HTTPClient makes the requests; nil means openai-go's default client.
	HTTPClient *http.Client
}

// LLMDecider is the [Decider] that asks a model on any OpenAI-compatible
// chat-completions server for each level's finding. It asks for a structured
// answer, {"decision": ..., "reasons": [...], "confidence": ...}, and never
// trusts it: an answer that is not that JSON, has other fields, names another
// decision, a confidence outside 0..1, or ends a path without a reason becomes
// a needs_review finding saying what was wrong with it, as does a refusal or a
// response that is no chat completion at all; such answers are not retried. A model that cannot be
// reached is retried with backoff (see [LLMConfig]); then it is up to
// [LLMConfig.OnFailure] whether the application ends as needs_review or goes to
// the level's dead-letter topic. Either way it is never lost, and Decide never
// blocks longer than Attempts times Timeout plus the waits between attempts.
//
// openai-go's own retries are off (option.WithMaxRetries(0)): the decider does
// all the retrying itself, the same way for timeouts, which openai-go does not
// retry, as for rate limits, so that its behaviour is what the configuration
// says and nothing else.
//
// An LLMDecider is safe for concurrent use.
type LLMDecider struct {
	cfg    LLMConfig
	client openai.Client
	stats  struct{ calls, retries, unusable, failed, deferred atomic.Int64 }
}

// LLMStats counts what an [LLMDecider] did.
type LLMStats struct {
	// Calls is the number of HTTP requests made, retries included.
	Calls int64
	// Retries is the number of those that followed a failed attempt.
	Retries int64
	// Unusable is the number of answers that became needs_review because they
	// could not be used.
	Unusable int64
	// Failed is the number of Decide calls whose model call failed for good
	// (see [LLMConfig.OnFailure]).
	Failed int64
	// Deferred is the number of failed attempts whose retry the decider left
	// to the level's timer ([RetryLater]), rather than waiting for it.
	Deferred int64
}

// NewLLMDecider returns an LLM decider configured by cfg.
func NewLLMDecider(cfg LLMConfig) (*LLMDecider, error) {
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New("llm decider: no model: set --llm-model or SLUICE_LLM_MODEL")
	}
	switch cfg.OnFailure {
	case "":
		cfg.OnFailure = OnFailureReview
	case OnFailureReview, OnFailureDeadLetter:
	default:
		return nil, fmt.Errorf("llm decider: on failure %q: want %s or %s", cfg.OnFailure, OnFailureReview, OnFailureDeadLetter)
	}
	switch cfg.ResponseFormat {
	case "":
		cfg.ResponseFormat = "json_schema"
	case "json_schema", "json_object":
	default:
		return nil, fmt.Errorf("llm decider: response format %q: want json_schema or json_object", cfg.ResponseFormat)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultLLMTimeout
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultLLMAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultLLMBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultLLMMaxBackoff
	}
	opts := []option.RequestOption{option.WithMaxRetries(0)}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &LLMDecider{cfg: cfg, client: openai.NewClient(opts...)}, nil
}

// Stats returns what d did so far.
func (d *LLMDecider) Stats() LLMStats {
	return LLMStats{
		Calls:    d.stats.calls.Load(),
		Retries:  d.stats.retries.Load(),
		Unusable: d.stats.unusable.Load(),
		Failed:   d.stats.failed.Load(),
		Deferred: d.stats.deferred.Load(),
	}
}

// Decide asks the model for level's finding on app. It returns an error only
// when ctx is done (the level is stopping: the record stays uncommitted and is
// handled again), with [OnFailureDeadLetter] when the model could not be
// reached, or, for a level that retries on a timer ([Attempt]), a
// [*RetryLater] after a failed attempt that may be retried: Decide then makes
// one call, and the level calls again after the wait it says (the server's
// Retry-After, or the backoff), attempt by attempt up to Attempts.
func (d *LLMDecider) Decide(ctx context.Context, level string, app Application) (Finding, error) {
	params, err := d.params(level, app)
	if err != nil {
		return Finding{}, fmt.Errorf("llm decider: %w: %w", err, topology.ErrPermanent)
	}
	var last error
	first, timed := Attempt(ctx) // a level that retries on a timer makes one call per Decide
	for attempt := max(first, 1); ; attempt++ {
		d.stats.calls.Add(1)
		if attempt > 1 {
			d.stats.retries.Add(1)
		}
		content, retryAfter, err := d.call(ctx, params)
		if err == nil {
			f, uerr := parseLLMAnswer(content)
			if uerr != nil {
				d.stats.unusable.Add(1)
				return llmUnusable(level, uerr, content), nil
			}
			return f, nil
		}
		if ctx.Err() != nil {
			return Finding{}, fmt.Errorf("llm decider: level %s: %w", level, ctx.Err())
		}
		last = err
		var refused *llmRefusal
		if errors.As(err, &refused) {
			d.stats.unusable.Add(1)
			return review("the model refused to answer for level %s: %s", level, refused.text), nil
		}
		var unreadable *llmUnreadable
		if errors.As(err, &unreadable) {
			d.stats.unusable.Add(1)
			return llmUnusable(level, unreadable, ""), nil
		}
		if !llmTransient(err) || attempt >= d.cfg.Attempts {
			break
		}
		if timed {
			d.stats.deferred.Add(1)
			return Finding{}, &RetryLater{After: d.backoff(attempt, retryAfter), Err: fmt.Errorf("model %q, attempt %d for level %s: %w", d.cfg.Model, attempt, level, err)}
		}
		if !llmWait(ctx, d.backoff(attempt, retryAfter)) {
			return Finding{}, fmt.Errorf("llm decider: level %s: %w", level, ctx.Err())
		}
	}
	d.stats.failed.Add(1)
	what := fmt.Sprintf("model %q failed for level %s", d.cfg.Model, level)
	if llmTransient(last) {
		what = fmt.Sprintf("model %q failed %d times for level %s", d.cfg.Model, d.cfg.Attempts, level)
	}
	if d.cfg.OnFailure == OnFailureDeadLetter {
		return Finding{}, fmt.Errorf("llm decider: %s: %w (%w)", what, last, topology.ErrPermanent)
	}
	return Finding{Decision: NeedsReview, Reasons: []string{what + ": " + llmShort(last.Error())}}, nil
}

// backoff returns the wait after the attempt-th failed attempt: Backoff doubled
// per attempt, at least what the server asked for, at most MaxBackoff.
func (d *LLMDecider) backoff(attempt int, retryAfter time.Duration) time.Duration {
	w := d.cfg.Backoff
	for i := 1; i < attempt && w < d.cfg.MaxBackoff; i++ {
		w *= 2
	}
	return min(max(w, retryAfter), d.cfg.MaxBackoff)
}

// llmWait sleeps for w, or until ctx is done; it reports whether it slept.
func llmWait(ctx context.Context, w time.Duration) bool {
	t := time.NewTimer(w)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// llmRefusal is the model declining to answer, which retrying does not change.
type llmRefusal struct{ text string }

func (r *llmRefusal) Error() string { return "refused: " + r.text }

// llmUnreadable is a successful HTTP answer whose body is no chat completion.
type llmUnreadable struct{ err error }

func (u *llmUnreadable) Error() string { return "unreadable response: " + llmShort(u.err.Error()) }

// llmAttemptError is a failed attempt: an HTTP status (0 for none: a timeout or a
// broken connection) and what went wrong.
type llmAttemptError struct {
	status int
	err    error
}

func (e *llmAttemptError) Error() string {
	if e.status == 0 {
		return e.err.Error()
	}
	return fmt.Sprintf("HTTP %d: %v", e.status, e.err)
}

func (e *llmAttemptError) Unwrap() error { return e.err }

// llmTransient reports whether another attempt may succeed.
func llmTransient(err error) bool {
	var ae *llmAttemptError
	if !errors.As(err, &ae) {
		return false
	}
	switch s := ae.status; {
	case s == 0, s == http.StatusRequestTimeout, s == http.StatusConflict,
		s == http.StatusTooManyRequests, s >= 500:
		return true
	}
	return false
}

// call makes one attempt, bounded by the configured timeout, and returns the
// answer's text, or an error with the wait the server asked for, if any.
func (d *LLMDecider) call(ctx context.Context, params openai.ChatCompletionNewParams) (string, time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var res *http.Response
	cc, err := d.client.Chat.Completions.New(actx, params, option.WithResponseInto(&res))
	if err != nil {
		status := 0
		var retryAfter time.Duration
		if res != nil {
			status = res.StatusCode
			retryAfter = llmRetryAfter(res.Header)
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %v", d.cfg.Timeout)
		}
		var apiErr *openai.Error
		if errors.As(err, &apiErr) && apiErr.Message != "" {
			err = errors.New(apiErr.Message)
		}
		if status >= 200 && status < 300 && ctx.Err() == nil && actx.Err() == nil {
			return "", 0, &llmUnreadable{err: err}
		}
		return "", retryAfter, &llmAttemptError{status: status, err: err}
	}
	if len(cc.Choices) == 0 {
		return "", 0, nil // parseLLMAnswer says what is wrong with ""
	}
	msg := cc.Choices[0].Message
	if msg.Refusal != "" {
		return "", 0, &llmRefusal{text: llmShort(msg.Refusal)}
	}
	if fr := cc.Choices[0].FinishReason; fr == "length" {
		return msg.Content + "\n(truncated: finish_reason length)", 0, nil
	}
	return msg.Content, 0, nil
}

// llmRetryAfter returns the wait a Retry-After-Ms or Retry-After header asks
// for, 0 if none is usable.
func llmRetryAfter(h http.Header) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && !math.IsInf(ms, 0) {
			return time.Duration(min(ms, float64(time.Hour/time.Millisecond)) * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && !math.IsInf(s, 0) {
		return time.Duration(min(s, 3600) * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// llmAnswerSchema is the JSON schema of a model's answer.
var llmAnswerSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"decision": map[string]any{
			"type":        "string",
			"enum":        []string{Pass, Rejected, NeedsReview},
			"description": "pass sends the application on; rejected refuses it; needs_review hands it to an officer",
		},
		"reasons": map[string]any{
			"type":        "array",
			"items":       map[string]any{"type": "string"},
			"description": "one short sentence each; at least one unless the decision is pass",
		},
		"confidence": map[string]any{
			"type":        "number",
			"description": "how sure you are, from 0 to 1",
		},
	},
	"required":             []string{"decision", "reasons", "confidence"},
	"additionalProperties": false,
}

// params returns the request for level's finding on app.
func (d *LLMDecider) params(level string, app Application) (openai.ChatCompletionNewParams, error) {
	doc, err := json.MarshalIndent(app, "", "  ")
	if err != nil {
		return openai.ChatCompletionNewParams{}, fmt.Errorf("encode application: %w", err)
	}
	p := openai.ChatCompletionNewParams{
		Model: d.cfg.Model,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage(llmPrompt(level, app.VisaType)),
			openai.UserMessage(string(doc)),
		},
		Temperature: openai.Float(0),
	}
	if d.cfg.ResponseFormat == "json_object" {
		p.ResponseFormat.OfJSONObject = &shared.ResponseFormatJSONObjectParam{}
	} else {
		p.ResponseFormat.OfJSONSchema = &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
				Name:        "finding",
				Description: openai.String("one scrutiny level's finding on a visa application"),
				Schema:      llmAnswerSchema,
				Strict:      openai.Bool(true),
			},
		}
	}
	return p, nil
}

// llmPrompt returns the system prompt of level for an application of visaType.
func llmPrompt(level, visaType string) string {
	checks := "the application as a whole"
	if l, ok := LevelOf(level); ok {
		checks = l.Checks
	}
	var b strings.Builder
	fmt.Fprintf(&b, "You are level %s of a visa scrutiny pipeline. This level checks %s; other levels check the rest, so judge only that.\n", level, checks)
	p := policy(visaType)
	fmt.Fprintf(&b, "Rules of a %s visa: funds of at least %d EUR per day of stay; a stay of at most %d days; a passport valid at least %d days after the stay; letters at most %d days old. Take the application's submitted_at as today.\n",
		visaType, p.DailyFunds, p.MaxStayDays, PassportMarginDays, LetterMaxAgeDays)
	fmt.Fprintf(&b, `The user message is the application as JSON. Answer with one JSON object and nothing else:
{"decision": "%s" | "%s" | "%s", "reasons": ["one short sentence each"], "confidence": a number from 0 to 1}
%q sends the application to the next level (or approves it at the last one); %q refuses it; %q hands it to an officer. %q and %q need at least one reason.`,
		Pass, Rejected, NeedsReview, Pass, Rejected, NeedsReview, Rejected, NeedsReview)
	return b.String()
}

// llmAnswer is a model's answer as it must be: every field present.
type llmAnswer struct {
	Decision   *string   `json:"decision"`
	Reasons    *[]string `json:"reasons"`
	Confidence *float64  `json:"confidence"`
}

// parseLLMAnswer validates a model's answer and returns its finding.
func parseLLMAnswer(content string) (Finding, error) {
	s := strings.TrimSpace(content)
	// Some servers wrap JSON in a Markdown fence even when asked not to.
	if rest, ok := strings.CutPrefix(s, "```"); ok {
		rest = strings.TrimPrefix(rest, "json")
		if body, ok := strings.CutSuffix(strings.TrimSpace(rest), "```"); ok {
			s = strings.TrimSpace(body)
		}
	}
	if s == "" {
		return Finding{}, errors.New("empty answer")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var a llmAnswer
	if err := dec.Decode(&a); err != nil {
		return Finding{}, fmt.Errorf("not the JSON asked for: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Finding{}, errors.New("not the JSON asked for: more after the object")
	}
	var missing []string
	if a.Decision == nil {
		missing = append(missing, "decision")
	}
	if a.Reasons == nil {
		missing = append(missing, "reasons")
	}
	if a.Confidence == nil {
		missing = append(missing, "confidence")
	}
	if len(missing) > 0 {
		return Finding{}, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	f := Finding{Decision: *a.Decision, Confidence: *a.Confidence}
	for _, r := range *a.Reasons {
		if r = strings.TrimSpace(r); r != "" {
			f.Reasons = append(f.Reasons, r)
		}
	}
	if c := f.Confidence; math.IsNaN(c) || c < 0 || c > 1 {
		return Finding{}, fmt.Errorf("confidence %v is not between 0 and 1", c)
	}
	if err := f.check(); err != nil {
		return Finding{}, err
	}
	return f, nil
}

// llmUnusable is the finding for an answer that could not be used.
func llmUnusable(level string, err error, content string) Finding {
	f := Finding{Decision: NeedsReview, Reasons: []string{fmt.Sprintf("level %s: the model's answer is unusable: %v", level, err)}}
	if strings.TrimSpace(content) != "" {
		f.Reasons = append(f.Reasons, "the model answered: "+llmShort(content))
	}
	return f
}

// llmShort returns s on one line, cut to 200 bytes.
func llmShort(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "..."
	}
	if s == "" {
		return `""`
	}
	return s
}

var _ Decider = (*LLMDecider)(nil)
