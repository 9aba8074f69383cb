package visa_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// brokerMaxMessage is the embedded broker's largest record batch
// (message.max.bytes, kfake's default, as Kafka's).
const brokerMaxMessage = 1048588

// badValue is one kind of malformed record injected into an input stream.
type badValue struct {
	name  string
	value []byte
	// reason is a part of the sluice-error header of its dead letter; "" means
	// the record is no dead letter but an application to decide.
	reason string
	// cause is the sluice-cause header of its dead letter.
	cause string
}

// badValues are the malformed records injected into the input stream of level,
// the same for each but the valid oversized one, an application for level A and
// a document for the others.
func badValues(level string) []badValue {
	big := valid("big-"+level, "business")
	big.Applicant.Name = strings.Repeat("n", 3*visa.MaxDocumentBytes)
	var bigValid []byte
	if level == "A" {
		bigValid, _ = json.Marshal(big)
	} else {
		bigValid, _ = json.Marshal(visa.Document{Application: big, Path: []visa.Step{{Level: "A", Finding: visa.Finding{Decision: visa.Pass}}}})
	}
	// Near the broker's limit: what the broker accepts, sluice must dead-letter,
	// although the dead letter adds headers to it. kafkaOverhead leaves room for
	// the batch and record framing and the dead-letter headers.
	const kafkaOverhead = 4 << 10
	huge := append([]byte(`{"application_id": "`), bytes.Repeat([]byte("x"), brokerMaxMessage-kafkaOverhead)...)
	return []badValue{
		{"broken", []byte(`{"application_id": "x", "visa_type": `), "unexpected end of JSON input", "decode"},
		{"not-json", []byte("visa please"), "invalid character 'v'", "decode"},
		{"array", []byte(`["an", "array"]`), "cannot unmarshal array", "decode"},
		{"wrong-field-type", []byte(`{"application_id": 42, "application": 42}`), "cannot unmarshal number", "decode"},
		{"string", []byte(`"a string"`), "cannot unmarshal string", "decode"},
		{"empty", []byte{}, "unexpected end of JSON input", "decode"},
		{"oversized", huge, "unexpected end of JSON input", "decode"},
		// Valid, but too large for the level's writes, which carry it.
		{"oversized-valid", bigValid, "is larger than the pipeline's limit of 262144", "handler"},
		// Valid JSON without any field: for level A an application without its
		// data, which its rules turn down with a reason (see badInput); on a
		// scrutiny queue a document that did not pass level A, dead-lettered.
		{"empty-object", []byte(`{}`), "the document has no path, so it did not pass level A", "handler"},
	}
}

// badRoute is a route record that level A cannot use.
type badRoute struct {
	visaType string
	value    []byte
	reason   string // a part of the needs_review reason of applications of the type
}

// TestBadInputOnBroker injects malformed records into every input topic of the
// pipeline while valid applications flow, and pins that:
//   - each malformed record of a stream (visa-applications-in and every
//     scrutiny queue) goes to the dead-letter topic of the level reading it,
//     once, with its key, value and source topic, cause decode and a
//     sluice-error header naming the problem; and nothing else is
//     dead-lettered, so the dead-letter count equals the number injected;
//   - a record of valid JSON without data is decided (rejected or reviewed,
//     with a reason), not dead-lettered;
//   - an unusable record of the routing table (broken, of the wrong type,
//     empty, oversized, naming no queue) is no dead letter, as the table is
//     looked up, not consumed: each application of its visa type ends at level
//     A as needs_review with a reason saying the route is unreadable or
//     unusable;
//   - the pipeline keeps going: every valid application gets exactly one final
//     decision.
//
// It runs with the levels' default concurrency (topology.Consume) and with
// concurrency 4 (topology.ConsumeAsync), whose dead letters take another path.
func TestBadInputOnBroker(t *testing.T) {
	for _, concurrency := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency=%d", concurrency), func(t *testing.T) { badInput(t, concurrency) })
	}
}

func badInput(t *testing.T, concurrency int) {
	g, err := visa.GraphConcurrent(nil, concurrency)
	if err != nil {
		t.Fatal(err)
	}
	bigRoute := append([]byte(`{"visa_type": "big", "hops": ["`), bytes.Repeat([]byte("x"), 512<<10)...)
	routes := []badRoute{
		{"broken", []byte(`{"visa_type": "broken", "hops": [`), `route for visa type "broken" is unreadable: unexpected end of JSON input`},
		{"wrongtype", []byte(`{"visa_type": "wrongtype", "hops": "scrutiny-queue-B"}`), `route for visa type "wrongtype" is unreadable: json: cannot unmarshal string`},
		{"emptyroute", []byte{}, `route for visa type "emptyroute" is unreadable: unexpected end of JSON input`},
		{"big", bigRoute, `route for visa type "big" is unreadable: unexpected end of JSON input`},
		{"nowhere", []byte(`{"visa_type": "nowhere", "hops": ["scrutiny-queue-Z"]}`), `route for visa type "nowhere" is unusable: hop 1 "scrutiny-queue-Z" is no scrutiny queue`},
	}
	addrs := setUp(t, g, visa.DefaultRoutes)
	inject := kafkatest.Client(t, addrs, kgo.ProducerBatchMaxBytes(brokerMaxMessage))
	// The bad routes are in the table before level A starts, so in its view
	// before it reads its first application.
	var routeRecs []*kgo.Record
	for _, r := range routes {
		routeRecs = append(routeRecs, &kgo.Record{Topic: visa.RoutesTable.Name, Key: []byte(r.visaType), Value: r.value})
	}
	if err := inject.ProduceSync(t.Context(), routeRecs...).FirstErr(); err != nil {
		t.Fatalf("inject routes: %v", err)
	}
	tl := newTail(t, addrs, append([]string{visa.Final.Name}, deadLetterTopics()...)...)
	stop := running(t, g, addrs, t.TempDir())

	// Valid applications flow throughout, 200 at 100 a second.
	mix, _ := visa.ParseMix("tourist=30,business=40,student=30")
	gen, err := visa.NewGenerator(visa.GeneratorConfig{Mix: mix, Invalid: 10, Seed: 11, Prefix: "G"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		items = map[string]visa.Item{}
	)
	sent := make(chan error, 1)
	go func() {
		sent <- visa.Produce(t.Context(), gen, 200, 100, func(it visa.Item) {
			mu.Lock()
			defer mu.Unlock()
			items[it.ID] = it
		}, topology.Brokers(addrs...))
	}()
	kafkatest.WaitFor(t, time.Minute, func() bool { mu.Lock(); defer mu.Unlock(); return len(items) >= 50 })

	// The malformed records, into every input stream while the valid ones flow.
	type injected struct {
		key, topic, dlq, reason, cause string
		value                          []byte
	}
	var bad []injected
	inputs := map[string]string{visa.Applications.Name: "A"}
	for _, l := range visa.Levels[1:] {
		inputs[visa.QueueName(l.Name)] = l.Name
	}
	for topic, level := range inputs {
		for _, b := range badValues(level) {
			key := "bad-" + level + "-" + b.name
			if level == "A" && b.name == "empty-object" {
				b.reason = "" // an application, decided
			}
			bad = append(bad, injected{key: key, topic: topic, dlq: visa.DeadLetters(level).Name, reason: b.reason, cause: b.cause, value: b.value})
			if err := inject.ProduceSync(t.Context(), &kgo.Record{Topic: topic, Key: []byte(key), Value: b.value}).FirstErr(); err != nil {
				t.Fatalf("inject %s into %s (%d bytes): %v", key, topic, len(b.value), err)
			}
		}
	}
	// Applications of the visa types whose routes are unusable.
	for _, r := range routes {
		sendApp(t, addrs, valid("route-"+r.visaType, r.visaType))
	}
	if err := <-sent; err != nil {
		t.Fatalf("produce: %v", err)
	}

	var decided, dead []string
	for _, b := range bad {
		if b.reason == "" {
			decided = append(decided, b.key)
		} else {
			dead = append(dead, b.key)
		}
	}
	for id := range items {
		decided = append(decided, id)
	}
	for _, r := range routes {
		decided = append(decided, "route-"+r.visaType)
	}
	tl.wait(t, 3*time.Minute, visa.Final.Name, decided)
	for _, b := range bad {
		if b.reason != "" {
			tl.wait(t, time.Minute, b.dlq, []string{b.key})
		}
	}
	stop()
	tl.drain(t)

	t.Run("malformed records dead-lettered with their reason", func(t *testing.T) {
		for _, b := range bad {
			if b.reason == "" {
				continue
			}
			rs := tl.records(b.dlq, b.key)
			if len(rs) != 1 {
				t.Errorf("%s: %d dead letters in %s, want 1", b.key, len(rs), b.dlq)
				continue
			}
			h := headers(rs[0])
			if !strings.Contains(h[topology.HeaderError], b.reason) || h[topology.HeaderCause] != b.cause || h[topology.HeaderTopic] != b.topic {
				t.Errorf("%s: dead letter with error %q, cause %q, source %q; want an error containing %q, cause %s, source %s",
					b.key, trim(h[topology.HeaderError]), h[topology.HeaderCause], h[topology.HeaderTopic], b.reason, b.cause, b.topic)
			}
			if !bytes.Equal(rs[0].Value, b.value) {
				t.Errorf("%s: dead letter of %d bytes, want the %d bytes injected", b.key, len(rs[0].Value), len(b.value))
			}
			if fs := tl.records(visa.Final.Name, b.key); len(fs) > 0 {
				t.Errorf("%s: dead-lettered and decided: %d final decisions", b.key, len(fs))
			}
		}
	})
	t.Run("dead letters equal the records injected", func(t *testing.T) {
		total := 0
		for _, topic := range deadLetterTopics() {
			_, n := tl.count(topic)
			total += n
		}
		if total != len(dead) {
			t.Errorf("%d dead letters in all, want the %d malformed records injected", total, len(dead))
		}
	})
	t.Run("valid JSON without data decided", func(t *testing.T) {
		for _, b := range bad {
			if b.reason != "" {
				continue
			}
			fs := tl.finals(t, b.key)
			if len(fs) != 1 || fs[0].Decision == visa.Approved || len(fs[0].Reasons) == 0 {
				t.Errorf("%s: final decisions %+v, want one, not approved, with a reason", b.key, fs)
			}
		}
	})
	t.Run("unusable routes reviewed", func(t *testing.T) {
		for _, r := range routes {
			id := "route-" + r.visaType
			fs := tl.finals(t, id)
			if len(fs) != 1 || fs[0].Decision != visa.NeedsReview || !slices.Equal(pathLevels(fs[0].Path), []string{"A"}) ||
				!strings.Contains(strings.Join(fs[0].Reasons, " | "), r.reason) {
				t.Errorf("%s: final decisions %+v, want one needs_review at A with a reason containing %q", id, fs, r.reason)
			}
		}
	})
	t.Run("valid applications decided once", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		for id, it := range items {
			fs := tl.finals(t, id)
			r, ok := routeOf(visa.DefaultRoutes, it.App.VisaType)
			decision, levels := expect(it.App, r, ok)
			if len(fs) != 1 || fs[0].Decision != decision || !slices.Equal(pathLevels(fs[0].Path), levels) {
				t.Errorf("%s: final decisions %+v, want one: %s via %v", id, fs, decision, levels)
			}
		}
	})
}

// trim shortens s for a message: an error about a huge value quotes it.
func trim(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// headers returns the headers of r by key.
func headers(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, rh := range r.Headers {
		h[rh.Key] = string(rh.Value)
	}
	return h
}

// TestDeadLetterNearBrokerLimit pins a bad input near the broker's size
// limit: a record the broker accepts but whose dead letter it would not,
// because the dead-letter headers (about 400 bytes) push it past the limit.
// topology then neither wrote the dead letter nor committed the record: the
// agent failed, restarted and met it again, and its partition stalled. Its
// dead letter now goes without the value (sluice-value-dropped says how large
// it was; the source headers locate it), and every application after it is
// decided.
func TestDeadLetterNearBrokerLimit(t *testing.T) {
	g, err := visa.Graph(nil, "A")
	if err != nil {
		t.Fatal(err)
	}
	addrs := setUp(t, g, visa.DefaultRoutes)
	tl := newTail(t, addrs, visa.Final.Name, visa.DeadLetters("A").Name)
	running(t, g, addrs, t.TempDir())
	// Broken JSON as large as the injecting client can send in one batch.
	value := append([]byte(`{"application_id": "`), bytes.Repeat([]byte("x"), brokerMaxMessage-200)...)
	inject := kafkatest.Client(t, addrs, kgo.ProducerBatchMaxBytes(brokerMaxMessage))
	if err := inject.ProduceSync(t.Context(), &kgo.Record{Topic: visa.Applications.Name, Key: []byte("edge"), Value: value}).FirstErr(); err != nil {
		t.Fatalf("inject: %v", err)
	}
	// Applications after it on every partition, its own included.
	var ids []string
	for i := range 16 {
		app := valid(fmt.Sprintf("after-%02d", i), "tourist")
		sendApp(t, addrs, app)
		ids = append(ids, app.ApplicationID)
	}
	tl.wait(t, time.Minute, visa.DeadLetters("A").Name, []string{"edge"})
	tl.wait(t, time.Minute, visa.Final.Name, ids)
	dead := tl.records(visa.DeadLetters("A").Name, "edge")
	h := headers(dead[0])
	if len(dead) != 1 || dead[0].Value != nil || h[topology.HeaderValueDropped] != strconv.Itoa(len(value)) || h[topology.HeaderCause] != "decode" {
		t.Errorf("dead letters of edge: %d, the first with a %d-byte value and headers %v; want one, without its value, %s=%d, cause decode",
			len(dead), len(dead[0].Value), h, topology.HeaderValueDropped, len(value))
	}
}
