package soak

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// tail follows [Output] from its start while the soak runs, so that the
// orchestrator knows when every record sent has come out. It is a progress
// gauge only: the verifier reads the output again, from scratch.
type tail struct {
	cl *kgo.Client
	mu struct {
		sync.Mutex
		seen    map[string]map[int64]bool
		records int
	}
}

func newTail(conn []kgo.Opt, ns string) (*tail, error) {
	_, _, out := streams(ns)
	cl, err := kgo.NewClient(append(slices.Clone(conn),
		kgo.ConsumeTopics(out.Name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return nil, err
	}
	t := &tail{cl: cl}
	t.mu.seen = map[string]map[int64]bool{}
	return t, nil
}

// run follows the output until ctx is done, then closes the client.
func (t *tail) run(ctx context.Context) {
	defer t.cl.Close()
	for ctx.Err() == nil {
		fs := t.cl.PollFetches(ctx)
		t.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			t.mu.records++
			var e Event
			if json.Unmarshal(r.Value, &e) == nil {
				if t.mu.seen[e.Key] == nil {
					t.mu.seen[e.Key] = map[int64]bool{}
				}
				t.mu.seen[e.Key][e.Seq] = true
			}
		})
		t.mu.Unlock()
	}
}

// missing returns how many records of sent the output has not shown yet, and
// how many output records were read.
func (t *tail) missing(sent Sent) (missing, records int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, seqs := range sent {
		for _, s := range seqs {
			if !t.mu.seen[k][s] {
				missing++
			}
		}
	}
	return missing, t.mu.records
}
