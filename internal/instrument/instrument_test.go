package instrument_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/internal/instrument"
)

// record moves every instrument of agent "a" by a known amount.
func record(r *instrument.Set) {
	a := r.Agent("a")
	in, out := a.In("clicks"), a.Out("counts")
	for range 3 {
		in.Inc()
		a.Latency().Observe(0.002)
	}
	out.Add(2)
	a.DeadLetter("decode")
	a.Restarted()
	a.Assigned(4)
	a.Recovery(1, 10, 5)
	a.TableSize(func() (int64, error) { return 4096, nil })
	r.SetLagSource(func(context.Context) ([]instrument.Lag, error) {
		return []instrument.Lag{{Agent: "a", Topic: "clicks", Partition: 0, Records: 7, Age: 1500 * time.Millisecond}}, nil
	})
}

// TestHandlerExposition scrapes the handler over HTTP and compares sluice's
// metrics to their exact text: the exposition parses, every name and label is
// what dashboards will query, and each value moved by what was recorded.
func TestHandlerExposition(t *testing.T) {
	r := instrument.New()
	record(r)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()

	const want = `
# HELP sluice_records_in_total Records an agent finished handling (processed or dead-lettered), by input topic.
# TYPE sluice_records_in_total counter
sluice_records_in_total{agent="a",topic="clicks"} 3
# HELP sluice_records_out_total Records an agent emitted, by output topic (dead letters excluded).
# TYPE sluice_records_out_total counter
sluice_records_out_total{agent="a",topic="counts"} 2
# HELP sluice_dead_letters_total Records sent to an agent's dead-letter topic, by cause (decode, handler, panic, route, size, refused).
# TYPE sluice_dead_letters_total counter
sluice_dead_letters_total{agent="a",cause="decode"} 1
# HELP sluice_restarts_total Times an agent's processor failed and was restarted.
# TYPE sluice_restarts_total counter
sluice_restarts_total{agent="a"} 1
# HELP sluice_rebalances_total Partition assignments an agent received (one per rebalance).
# TYPE sluice_rebalances_total counter
sluice_rebalances_total{agent="a"} 1
# HELP sluice_assigned_partitions Input partitions assigned to this instance of an agent.
# TYPE sluice_assigned_partitions gauge
sluice_assigned_partitions{agent="a"} 4
# HELP sluice_recovery_restored_records Changelog records restored into an agent's table partition since its recovery started.
# TYPE sluice_recovery_restored_records gauge
sluice_recovery_restored_records{agent="a",partition="1"} 10
# HELP sluice_recovery_remaining_records Changelog offsets an agent's table partition has yet to restore (0 once recovered); an upper bound, since compaction leaves gaps.
# TYPE sluice_recovery_remaining_records gauge
sluice_recovery_remaining_records{agent="a",partition="1"} 5
# HELP sluice_table_bytes Bytes an agent's table takes on this instance's disk (its Pebble stores).
# TYPE sluice_table_bytes gauge
sluice_table_bytes{agent="a"} 4096
# HELP sluice_consumer_lag_records Records of an input partition the agent has not committed yet.
# TYPE sluice_consumer_lag_records gauge
sluice_consumer_lag_records{agent="a",partition="0",topic="clicks"} 7
# HELP sluice_consumer_lag_seconds Age of the oldest record of an input partition the agent has not committed yet (0 if none).
# TYPE sluice_consumer_lag_seconds gauge
sluice_consumer_lag_seconds{agent="a",partition="0",topic="clicks"} 1.5
`
	err := testutil.ScrapeAndCompare(srv.URL, strings.NewReader(want),
		"sluice_records_in_total", "sluice_records_out_total", "sluice_dead_letters_total",
		"sluice_restarts_total", "sluice_rebalances_total", "sluice_assigned_partitions",
		"sluice_recovery_restored_records", "sluice_recovery_remaining_records",
		"sluice_table_bytes", "sluice_consumer_lag_records", "sluice_consumer_lag_seconds")
	if err != nil {
		t.Fatal(err)
	}

	// The whole exposition, Go and process collectors included, parses.
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	h := fams["sluice_handler_seconds"]
	if h == nil || h.GetMetric()[0].GetHistogram().GetSampleCount() != 3 {
		t.Errorf("sluice_handler_seconds = %v, want a histogram of 3 observations", h)
	}
	if fams["go_goroutines"] == nil {
		t.Errorf("no go_goroutines in the exposition: the Go collector is not registered")
	}
	problems, err := testutil.GatherAndLint(r.Gatherer())
	if err != nil || len(problems) > 0 {
		t.Errorf("GatherAndLint = %v, %v; want no problems", problems, err)
	}
}

// TestLagSourceFailure pins that a lag function that fails costs its metrics
// and counts an error, while the rest of the scrape is served.
func TestLagSourceFailure(t *testing.T) {
	r := instrument.New()
	r.Agent("a").Restarted()
	r.SetLagSource(func(context.Context) ([]instrument.Lag, error) { return nil, errors.New("broker down") })
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	const want = `
# HELP sluice_consumer_lag_errors_total Scrapes at which consumer lag could not be computed.
# TYPE sluice_consumer_lag_errors_total counter
sluice_consumer_lag_errors_total 1
# HELP sluice_restarts_total Times an agent's processor failed and was restarted.
# TYPE sluice_restarts_total counter
sluice_restarts_total{agent="a"} 1
`
	if err := testutil.ScrapeAndCompare(srv.URL, strings.NewReader(want),
		"sluice_consumer_lag_errors_total", "sluice_restarts_total", "sluice_consumer_lag_records"); err != nil {
		t.Fatal(err)
	}
}

// TestLagDuplicates pins that a lag function returning the same partition twice
// does not break the scrape (a registry refuses duplicate series).
func TestLagDuplicates(t *testing.T) {
	r := instrument.New()
	r.SetLagSource(func(context.Context) ([]instrument.Lag, error) {
		l := instrument.Lag{Agent: "a", Topic: "t", Partition: 3, Records: 1}
		return []instrument.Lag{l, l}, nil
	})
	if n, err := testutil.GatherAndCount(r.Gatherer(), "sluice_consumer_lag_records"); err != nil || n != 1 {
		t.Fatalf("GatherAndCount = %d, %v; want 1 series", n, err)
	}
}

// TestAgentIsBoundOnce pins that an agent's instruments are shared by name: two
// runs of the same agent in one process add to the same series.
func TestAgentIsBoundOnce(t *testing.T) {
	r := instrument.New()
	if r.Agent("a") != r.Agent("a") {
		t.Fatal("Agent(a) returned two values, want one")
	}
	r.Agent("a").In("t").Inc()
	r.Agent("a").In("t").Inc()
	if got := testutil.ToFloat64(r.Agent("a").In("t")); got != 2 {
		t.Fatalf("records in = %v, want 2", got)
	}
}
