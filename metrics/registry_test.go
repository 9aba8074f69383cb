package metrics_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/metrics"
)

// TestRegistryLagSource pins a registry's lag source: what it returns is
// served as the lag gauges, each registry keeps its own, nil removes it, and
// a failing source costs its gauges only.
func TestRegistryLagSource(t *testing.T) {
	scrape := func(r *metrics.Registry) string {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 {
			t.Fatalf("GET /metrics = %d", rec.Code)
		}
		return rec.Body.String()
	}
	a, b := metrics.New(), metrics.New()
	a.SetLagSource(func(context.Context) ([]metrics.Lag, error) {
		return []metrics.Lag{{Agent: "counter", Topic: "clicks", Partition: 1, Records: 5, Age: 2 * time.Second}}, nil
	})
	b.SetLagSource(func(context.Context) ([]metrics.Lag, error) {
		return []metrics.Lag{{Agent: "tally", Topic: "views", Partition: 0, Records: 7}}, nil
	})
	for _, want := range []string{
		`sluice_consumer_lag_records{agent="counter",partition="1",topic="clicks"} 5`,
		`sluice_consumer_lag_seconds{agent="counter",partition="1",topic="clicks"} 2`,
	} {
		if got := scrape(a); !strings.Contains(got, want) || strings.Contains(got, `agent="tally"`) {
			t.Errorf("registry a serves no %q, or b's agent:\n%s", want, got)
		}
	}
	if got := scrape(b); !strings.Contains(got, `sluice_consumer_lag_records{agent="tally",partition="0",topic="views"} 7`) || strings.Contains(got, `agent="counter"`) {
		t.Errorf("registry b does not serve its own lag alone:\n%s", got)
	}
	a.SetLagSource(nil)
	if got := scrape(a); strings.Contains(got, "sluice_consumer_lag_records{") {
		t.Errorf("lag served after SetLagSource(nil):\n%s", got)
	}
	b.SetLagSource(func(context.Context) ([]metrics.Lag, error) { return nil, errors.New("no broker") })
	if got := scrape(b); strings.Contains(got, "sluice_consumer_lag_records{") || !strings.Contains(got, "sluice_consumer_lag_errors_total 1") {
		t.Errorf("a failing lag source: want no lag and one error counted:\n%s", got)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "mine_total", Help: "A collector of the program's own."})
	if err := a.Register(c); err != nil {
		t.Fatal(err)
	}
	if got := scrape(a); !strings.Contains(got, "mine_total 0") {
		t.Errorf("a registered collector is not served:\n%s", got)
	}
	if mfs, err := a.Gatherer().Gather(); err != nil || len(mfs) == 0 {
		t.Errorf("Gatherer().Gather() = %d families, %v", len(mfs), err)
	}
}
