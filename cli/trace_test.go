package cli_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestTraceFlagErrors pins that a bad --trace or --trace-endpoint is a usage
// error (status 2, one line naming the fix), not a panic or a silent no-op.
func TestTraceFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown exporter", []string{"run", "--trace", "jaeger"}, []string{"--trace", "off, stdout, otlp"}},
		{"endpoint without otlp", []string{"run", "--trace-endpoint", "localhost:4318"}, []string{"--trace-endpoint", "--trace otlp"}},
		{"endpoint with a path", []string{"run", "--trace", "otlp", "--trace-endpoint", "collector/v1"}, []string{"--trace-endpoint", "host:port", "URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := run(t, "", nil, tc.args...)
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if code != 2 || stdout != "" || len(lines) != 1 {
				t.Fatalf("status %d, stdout %q, stderr %q; want 2, nothing, one line", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("stderr = %q, want it to contain %q", lines[0], w)
				}
			}
		})
	}
}

// TestRunTraceStdout runs with --trace stdout, produces a record carrying W3C
// trace context, and checks that after SIGTERM stdout holds the counter agent's
// span in that trace, a child of the producer's span.
func TestRunTraceStdout(t *testing.T) {
	t.Parallel()
	p := start(t, "", []string{"SLUICE_LOG_LEVEL=info", "SLUICE_HTTP="},
		"run", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", t.TempDir(), "--trace", "stdout")
	addrs := []string{p.waitLog(brokerAddr, 20*time.Second)[1]}
	p.waitLog(regexp.MustCompile(`msg="agent running" agent=counter`), 30*time.Second)

	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	kafkatest.Produce(t, addrs, "clicks", &kgo.Record{Key: []byte("u1"), Value: []byte(`{"page":"/"}`),
		Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-" + traceID + "-" + parent + "-01")}}})
	out := kafkatest.ConsumeN(t, addrs, "counts", 1)[0]
	if code := p.stop(30 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr.String())
	}
	var tp string
	for _, h := range out.Headers {
		if h.Key == "traceparent" {
			tp = string(h.Value)
		}
	}
	if !strings.HasPrefix(tp, "00-"+traceID+"-") {
		t.Errorf("output traceparent = %q, want the input's trace %s", tp, traceID)
	}
	// stdouttrace writes one JSON object per span.
	dec := json.NewDecoder(strings.NewReader(p.stdout.String()))
	found := false
	for dec.More() {
		var span struct {
			Name        string
			SpanContext struct{ TraceID string }
			Parent      struct{ SpanID string }
		}
		if err := dec.Decode(&span); err != nil {
			t.Fatalf("stdout is not JSON spans: %v\n%s", err, p.stdout.String())
		}
		if span.Name == "counter" && span.SpanContext.TraceID == traceID && span.Parent.SpanID == parent {
			found = true
		}
	}
	if !found {
		t.Errorf("no counter span in trace %s with parent %s on stdout:\n%s", traceID, parent, p.stdout.String())
	}
}
