package observe_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/observe"
)

// sumLag returns the total lag of group's rows and whether every row with lag
// has an age above zero and every row without has age zero.
func sumLag(rows []observe.LagRow, group string) (lag int64, agesOK bool) {
	agesOK = true
	for _, r := range rows {
		if r.Group != group {
			continue
		}
		lag += r.Lag
		if (r.Lag > 0) != (r.Age > 0) {
			agesOK = false
		}
	}
	return lag, agesOK
}

// TestLagRisesAndFalls pins lag on the embedded broker: 0 once the agent has
// processed everything; the records produced while it is stopped, with an age
// above zero, while it is stopped; 0 again after it runs. An agent that never
// ran lags by every record of its inputs.
func TestLagRisesAndFalls(t *testing.T) {
	t.Parallel()
	g := testGraph()
	addrs, adm := startBroker(t, g)
	dir := dataDir(t, "state")
	produceClicks(t, addrs, 20, 10)

	stop := runGraph(t, g, addrs, dir, "counter")
	waitFor(t, 60*time.Second, "counter caught up", func() error {
		rows, err := observe.GraphLag(t.Context(), adm, g)
		if err != nil {
			return err
		}
		n := 0
		for _, r := range rows {
			if r.Group != "counter" {
				continue
			}
			n++
			if r.Lag != 0 || r.Age != 0 || r.Committed != r.End && r.End != 0 {
				return fmt.Errorf("%w: %+v", errNotYet, r)
			}
		}
		if n != 2 {
			return fmt.Errorf("%d rows for counter, want 2 (one per clicks partition): %+v", n, rows)
		}
		return nil
	})
	stop()

	produceClicks(t, addrs, 30, 10)
	var rows []observe.LagRow
	waitFor(t, 30*time.Second, "lag of the stopped counter", func() error {
		var err error
		if rows, err = observe.GraphLag(t.Context(), adm, g); err != nil {
			return err
		}
		if lag, ok := sumLag(rows, "counter"); lag != 30 || !ok {
			return fmt.Errorf("counter lag = %d (ages ok: %v), want 30 with ages > 0: %+v", lag, ok, rows)
		}
		return nil
	})
	for _, r := range rows {
		if r.Group == "counter" && r.Member != "" {
			t.Errorf("stopped counter still has member %q on %s/%d", r.Member, r.Topic, r.Partition)
		}
		if r.Group == "auditor" && (r.Committed != -1 || r.Topic != "counts") {
			t.Errorf("auditor, which never ran, has row %+v, want committed -1 on counts", r)
		}
	}
	if lag, ok := sumLag(rows, "auditor"); lag != 20 || !ok {
		t.Errorf("auditor lag = %d (ages ok: %v), want 20 (every count of the first run) with ages > 0", lag, ok)
	}
	plain, err := observe.Lag(t.Context(), adm, "counter", "no-such-agent")
	if err != nil {
		t.Fatal(err)
	}
	if lag, _ := sumLag(plain, "counter"); lag != 30 || len(plain) != 2 {
		t.Errorf("Lag(counter, no-such-agent) = %+v, want 2 rows of counter with lag 30 in all", plain)
	}

	runGraph(t, g, addrs, dir, "counter")
	waitFor(t, 60*time.Second, "counter caught up again", func() error {
		rows, err := observe.Lag(t.Context(), adm, "counter")
		if err != nil {
			return err
		}
		if lag, ok := sumLag(rows, "counter"); lag != 0 || !ok || len(rows) != 2 {
			return fmt.Errorf("%w: lag %d: %+v", errNotYet, lag, rows)
		}
		return nil
	})
}

// TestLagSkipsTransactionMarkers pins the lag of a group reading a topic an
// exactly-once producer writes: the marker after each transaction takes an
// offset but is no record to process. A group that has processed every record
// lags by 0 (not by the last marker), and a small lag counts records only.
func TestLagSkipsTransactionMarkers(t *testing.T) {
	t.Parallel()
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "txns", 1, nil)
	prod := kafkatest.Client(t, addrs, kgo.TransactionalID("writer"), kgo.DefaultProduceTopic("txns"))
	for _, n := range []int{3, 2} { // offsets 0-2, marker 3; 4-5, marker 6
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for range n {
			if err := prod.ProduceSync(t.Context(), &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := prod.EndTransaction(t.Context(), kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	cl := kafkatest.Client(t, addrs)
	adm := kadm.NewClient(cl)
	for _, tc := range []struct {
		name      string
		committed int64
		want      int64
	}{
		{"processed all", 6, 0}, // the next record would be at 7; 6 is the marker
		{"processed the first transaction", 3, 2},
		{"processed part of the first transaction", 1, 4},
		{"processed the second's first record", 5, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var offs kadm.Offsets
			offs.AddOffset("txns", 0, tc.committed, -1)
			group := "g-" + strconv.Itoa(int(tc.committed))
			if err := adm.CommitAllOffsets(t.Context(), group, offs); err != nil {
				t.Fatal(err)
			}
			rows, err := observe.Lag(t.Context(), cl, group)
			if err != nil {
				t.Fatal(err)
			}
			if lag, agesOK := sumLag(rows, group); lag != tc.want || !agesOK || len(rows) != 1 {
				t.Errorf("committed %d: lag %d (ages ok %v), want %d: %+v", tc.committed, lag, agesOK, tc.want, rows)
			}
		})
	}
}
