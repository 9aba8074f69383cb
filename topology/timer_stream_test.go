package topology_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// TestStreamTimersRestart restores stream timers, and the stream time
// they wait for, on the broker: a child process sets stream timers for 300
// keys (a third replaced, a sixth cancelled), 1-100 s after the records'
// timestamp, and is SIGKILLed; a second Run restores them, records move
// each partition's stream time 50 s on, and the Run stops gracefully; a
// third restores what is left, and records move stream time past every
// timer. The records' time is an hour behind the wall clock, so that a
// stream timer taken for a wall-clock one fires at once. Every timer fires
// once (exactly-once mode, read committed) or at least once, never before
// its partition's stream time reaches it, and at a stream time a record
// brought the partition to (not one restored wrong); while stream time is
// 50 s on, exactly the timers due by then have fired and no fire record of
// any other was sent. The child's session timeout is 6 s (the least a Kafka
// broker accepts by default), so that the second Run waits that long, not
// sluice's default 10 s, for the group to let go of the killed child's
// partitions.
func TestStreamTimersRestart(t *testing.T) {
	for _, mode := range []string{"at-least-once", "exactly-once"} {
		t.Run("mode="+mode, func(t *testing.T) { streamTimersRestart(t, mode) })
	}
}

func streamTimersRestart(t *testing.T, mode string) {
	eo := mode == "exactly-once"
	addrs := kafkatest.Start(t).Addrs()
	dataDir := t.TempDir()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dataDir)}
	if eo {
		opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
	}
	if _, err := topology.Provision(t.Context(), timerGraph(nil), opts...); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	reqs, want := timerSchedule(300, 0)
	at := map[string]time.Time{} // the stream time of each key's timer that fires
	ticks := map[string][]timerReq{}
	for key, rs := range reqs {
		for i := range rs {
			if rs[i].Delay > 0 { // a replacement 50 s later or earlier than the first
				rs[i].Stream, rs[i].Delay = true, time.Duration(1+(keyNum(key)+50*i)%100)*time.Second
			}
		}
		if _, ok := want[key]; ok {
			at[key] = t0.Add(rs[len(rs)-1].Delay)
		}
		ticks[key] = []timerReq{{Name: "tick", Delay: -1}} // cancels nothing: moves stream time
	}
	t1, t2 := t0.Add(50*time.Second), t0.Add(200*time.Second)
	due := map[string]int{} // by t1
	for key, seq := range want {
		if !at[key].After(t1) {
			due[key] = seq
		}
	}
	produceTimerReqsAt(t, addrs, reqs, t0)

	c := startChild(t, "TestTimersHelperProcess", tmHelperBrokersEnv+"="+strings.Join(addrs, ","),
		tmHelperDirEnv+"="+dataDir, tmHelperModeEnv+"="+mode, tmHelperSessionEnv+"=6s")
	waitCommitted(t, addrs, "tm-timer", tmIn.Name, 2*time.Minute)
	if pending := len(pendingTimers(t, addrs, "tm-timer", eo)); pending != len(want) {
		t.Fatalf("%d keys have timers in the timers topic before the kill, want %d", pending, len(want))
	}
	c.stop(syscall.SIGKILL)

	stop := running(t, timerGraph(nil), opts...)
	produceTimerReqsAt(t, addrs, ticks, t1)
	waitUntil(t, time.Minute, "the timers due by the first ticks fired", func() bool {
		return len(firedKeys(readFired(t, addrs, eo))) >= len(due)
	})
	stop()
	fired := readFired(t, addrs, eo)
	checkFired(t, fired, due, eo)
	checkStreamTime(t, fired, nil, t0, t1)
	var loop []*kgo.Record
	if eo {
		loop, _ = kafkatest.ReadCommitted(t, addrs, topology.LoopName("tm-timer"))
	} else {
		loop = kafkatest.ConsumeAll(t, addrs, topology.LoopName("tm-timer"))
	}
	for _, r := range loop {
		key := string(r.Key)
		if _, ok := due[key]; ok || header(r, topology.HeaderTimerOp) != "fire" {
			continue
		}
		if a, ok := at[key]; ok {
			t.Errorf("a fire record of %s's timer at stream time t0+%v was sent while stream time was t0+%v", key, a.Sub(t0), t1.Sub(t0))
		} else {
			t.Errorf("a fire record of %s's timer was sent, which was cancelled", key)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	stop = running(t, timerGraph(nil), opts...)
	produceTimerReqsAt(t, addrs, ticks, t2)
	waitUntil(t, time.Minute, "every timer fired and every key's timers gone", func() bool {
		return len(pendingTimers(t, addrs, "tm-timer", eo)) == 0 && len(firedKeys(readFired(t, addrs, eo))) >= len(want)
	})
	stop()
	fired = readFired(t, addrs, eo)
	checkFired(t, fired, want, eo)
	checkStreamTime(t, fired, due, t0, t2)
	t.Logf("%d timers, %d due by the first ticks; %d firings", len(want), len(due), len(fired))
}

// checkStreamTime fails t unless every firing in fired of a key not in
// skip ran at stream time at, the only one that the records brought the
// partitions to while those timers were due (a stream time restored later
// than the partition ever was fires timers early). t0 names times in errors.
func checkStreamTime(t *testing.T, fired []timerFired, skip map[string]int, t0, at time.Time) {
	t.Helper()
	for _, f := range fired {
		if _, ok := skip[f.Key]; !ok && f.Ran != at.UnixNano() {
			t.Errorf("key %s's timer at t0+%v fired at stream time t0+%v, want t0+%v: no record brought its partition there",
				f.Key, time.Duration(f.At-t0.UnixNano()), time.Duration(f.Ran-t0.UnixNano()), at.Sub(t0))
		}
	}
}

// firedKeys returns the keys of fired.
func firedKeys(fired []timerFired) map[string]bool {
	keys := map[string]bool{}
	for _, f := range fired {
		keys[f.Key] = true
	}
	return keys
}

// header returns the value of r's header key, "" if it has none.
func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
