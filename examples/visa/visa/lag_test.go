package visa_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// TestLagOnBroker pins that Lag reads each level's consumer lag from the broker:
// with level A running and B stopped, B's lag is every business application
// waiting in its queue while A's falls to 0; once B starts, its lag falls to 0
// and C's, stopped, becomes the same number; an unknown level is an error.
func TestLagOnBroker(t *testing.T) {
	const n = 12
	a, err := visa.Graph(nil, "A")
	if err != nil {
		t.Fatal(err)
	}
	addrs := setUp(t, a, visa.DefaultRoutes)
	tl := newTail(t, addrs, visa.QueueName("B"), visa.QueueName("C"))
	running(t, a, addrs, t.TempDir())

	var ids []string
	for i := range n {
		app := valid(fmt.Sprintf("L-%02d", i), "business")
		sendApp(t, addrs, app)
		ids = append(ids, app.ApplicationID)
	}
	tl.wait(t, time.Minute, visa.QueueName("B"), ids)

	// lagIs waits until Lag reports want for every level of want.
	lagIs := func(want map[string]int64) {
		t.Helper()
		var got map[string]int64
		kafkatest.WaitFor(t, time.Minute, func() bool {
			if got, err = visa.Lag(t.Context(), []topology.Option{topology.Brokers(addrs...)}); err != nil {
				t.Fatalf("Lag: %v", err)
			}
			for l, w := range want {
				if got[l] != w {
					return false
				}
			}
			return true
		})
		if len(got) != len(visa.Levels) {
			t.Errorf("Lag = %v, want a figure for each of the %d levels", got, len(visa.Levels))
		}
	}
	lagIs(map[string]int64{"A": 0, "B": n, "C": 0, "D": 0, "E": 0})

	b, err := visa.Graph(nil, "B")
	if err != nil {
		t.Fatal(err)
	}
	running(t, b, addrs, t.TempDir())
	tl.wait(t, time.Minute, visa.QueueName("C"), ids)
	lagIs(map[string]int64{"A": 0, "B": 0, "C": n, "D": 0})

	if got, err := visa.Lag(t.Context(), []topology.Option{topology.Brokers(addrs...)}, "B", "C"); err != nil || len(got) != 2 || got["C"] != n {
		t.Errorf("Lag(B, C) = %v, %v; want B and C only, C %d", got, err, n)
	}
	if _, err := visa.Lag(t.Context(), []topology.Option{topology.Brokers(addrs...)}, "F"); err == nil {
		t.Errorf("Lag of level F = nil error, want an unknown level")
	}
}
