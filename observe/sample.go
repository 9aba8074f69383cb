package observe

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Snapshot is what the server last sampled from the broker, as /api/stats
// serves it.
type Snapshot struct {
	// At is when the sample was taken; zero before the first one.
	At time.Time `json:"at"`
	// State is "waiting for the broker" until the brokers are known, then
	// "ok", or "error" when the last sample failed (see Error).
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// Agents holds each agent's figures by name.
	Agents map[string]AgentStats `json:"agents"`
	// Topics holds the number of records ever written to each topic of the
	// graph: the sum of its partitions' end offsets.
	Topics map[string]int64 `json:"topics"`
	// Lag is the lag of every agent by partition (see [GraphLag]).
	Lag []LagRow `json:"lag"`
}

// AgentStats are the live figures of one agent.
type AgentStats struct {
	// Rate is the records processed per second over the last few samples,
	// from the advance of the agent's committed offsets.
	Rate float64 `json:"rate"`
	// Committed is the sum of the agent's committed offsets.
	Committed int64 `json:"committed"`
	// Lag is the records the agent has yet to process, over all partitions.
	Lag int64 `json:"lag"`
	// AgeMillis is the age of its oldest unprocessed record in milliseconds:
	// 0 without lag, -1 when unknown.
	AgeMillis int64 `json:"age_ms"`
	// DeadLetters is the number of records in the agent's dead-letter topic.
	DeadLetters int64 `json:"dead_letters"`
	// Running is true while some instance of the agent is a member of its group.
	Running bool `json:"running"`
}

// point is one sample of an agent's committed offsets.
type point struct {
	at        time.Time
	committed int64
}

// rateWindow is how many samples the rate is averaged over.
const rateWindow = 5

// sample reads offsets from the broker and returns a snapshot; history holds
// each agent's recent points and is updated.
func sample(ctx context.Context, cl *kgo.Client, t *graphView, history map[string][]point) Snapshot {
	now := time.Now()
	s := Snapshot{At: now, State: "ok", Agents: map[string]AgentStats{}, Topics: map[string]int64{}}
	adm := kadm.NewClient(cl)
	rows, err := descriptionLag(ctx, cl, t.desc)
	if err != nil {
		s.State, s.Error = "error", err.Error()
		return s
	}
	s.Lag = rows
	ends, err := adm.ListEndOffsets(ctx, t.topics()...)
	if err != nil {
		s.State, s.Error = "error", err.Error()
		return s
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Partition >= 0 {
			s.Topics[o.Topic] += o.Offset
		}
	})
	for _, ad := range t.desc.Agents {
		a := ad.Name
		st := AgentStats{DeadLetters: s.Topics[ad.DeadLetters]}
		for _, r := range rows {
			if r.Group != ad.Group {
				continue
			}
			st.Committed += max(r.Committed, 0)
			st.Lag += max(r.Lag, 0)
			if r.Member != "" {
				st.Running = true
			}
			switch {
			case r.Age < 0 && r.Lag > 0 && st.AgeMillis == 0:
				st.AgeMillis = -1
			case r.Age > 0:
				st.AgeMillis = max(st.AgeMillis, r.Age.Milliseconds(), 1)
			}
		}
		h := append(history[a], point{now, st.Committed})
		if len(h) > rateWindow {
			h = h[len(h)-rateWindow:]
		}
		history[a] = h
		if first, last := h[0], h[len(h)-1]; last.at.After(first.at) && last.committed >= first.committed {
			st.Rate = float64(last.committed-first.committed) / last.at.Sub(first.at).Seconds()
		}
		s.Agents[a] = st
	}
	return s
}
