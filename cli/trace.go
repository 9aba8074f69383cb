package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sluicehq/sluice/topology"
)

// traceShutdownTimeout bounds the export of the spans still buffered at exit.
const traceShutdownTimeout = 5 * time.Second

// traceFlags are --trace and --trace-endpoint: where the agents' spans go.
type traceFlags struct {
	exporter *choice
	endpoint string
}

// add declares the flags on fs.
func (t *traceFlags) add(fs *pflag.FlagSet) {
	t.exporter = newChoice("off", "off", "stdout", "otlp")
	fs.Var(t.exporter, "trace", "export a span per record and agent (W3C trace context in record headers): to stdout as JSON, or over OTLP/HTTP")
	fs.StringVar(&t.endpoint, "trace-endpoint", "",
		"OTLP/HTTP collector for --trace otlp, as `host:port` (plain HTTP) or a URL (default localhost:4318, or OTEL_EXPORTER_OTLP_ENDPOINT)")
}

// start builds the tracer provider the flags ask for, named service after the
// topology. It returns the topology option (nil when tracing is off) and a
// function that flushes and stops the exporter; a bad combination of flags is a
// usage error.
func (t *traceFlags) start(ctx context.Context, service string, stdout io.Writer) (topology.Option, func() error, error) {
	noop := func() error { return nil }
	kind := t.exporter.value
	if t.endpoint != "" && kind != "otlp" {
		return nil, noop, usagef("--trace-endpoint %q needs --trace otlp", t.endpoint)
	}
	var exp sdktrace.SpanExporter
	var err error
	switch kind {
	case "off":
		return nil, noop, nil
	case "stdout":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
	case "otlp":
		var opts []otlptracehttp.Option
		switch e := t.endpoint; {
		case e == "":
		case strings.HasPrefix(e, "http://"), strings.HasPrefix(e, "https://"):
			opts = append(opts, otlptracehttp.WithEndpointURL(e))
		case strings.Contains(e, "/"):
			return nil, noop, usagef("--trace-endpoint %q: want host:port or an http:// or https:// URL", e)
		default:
			opts = append(opts, otlptracehttp.WithEndpoint(e), otlptracehttp.WithInsecure())
		}
		exp, err = otlptracehttp.New(ctx, opts...) // does not dial: spans are sent in batches later
	}
	if err != nil {
		return nil, noop, fmt.Errorf("--trace %s: %w", kind, err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
	)
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), traceShutdownTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("--trace %s: flush spans: %w", kind, err)
		}
		return nil
	}
	return topology.Tracing(tp), stop, nil
}
