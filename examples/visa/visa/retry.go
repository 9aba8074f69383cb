package visa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// RetryLater is the error a [Decider] returns when it could not decide now but
// may after After: a model's rate limit (429 with Retry-After) or a timeout.
// A level built with [Options] Retry sets a timer and asks again then, through
// its retry queue ([RetryQueue]), while its partition goes on with other
// applications; without it, the level retries as for any error.
type RetryLater struct {
	After time.Duration
	Err   error
}

func (r *RetryLater) Error() string {
	return fmt.Sprintf("retry in %v: %v", r.After, r.Err)
}

// Unwrap returns r.Err.
func (r *RetryLater) Unwrap() error { return r.Err }

// attemptKey is the context key of the attempt number a level asks its
// decider for (see [Attempt]).
type attemptKey struct{}

// Attempt returns which call about an application a level with retries on a
// timer makes, from the ctx it passes to [Decider.Decide]: 1 for the first.
// ok is false when the level does not retry on a timer: a Decider that could
// wait should then retry itself.
func Attempt(ctx context.Context) (n int, ok bool) {
	n, ok = ctx.Value(attemptKey{}).(int)
	return n, ok
}

// withAttempt returns ctx carrying attempt n.
func withAttempt(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, attemptKey{}, n)
}

// RetryDoc is a document a level asks about again: what a level's retry
// queue carries, and its retry timer's data.
type RetryDoc struct {
	Doc Document `json:"doc"`
	// Attempt is the number of the call to make, 2 or more.
	Attempt int `json:"attempt"`
	// Reason says why the last call did not decide.
	Reason string `json:"reason"`
}

// RetryQueueName returns the retry queue of the level named level.
func RetryQueueName(level string) string { return "visa-retry-" + level }

// RetryQueue returns the handle of the retry queue of the level named level:
// its retry timers send the document there, and the level reads it as it
// reads its input.
func RetryQueue(level string) topology.Stream[RetryDoc] {
	return topology.Stream[RetryDoc]{Name: RetryQueueName(level), Codec: topology.JSON[RetryDoc]()}
}

// retryTimer is the name of a level's retry timer.
const retryTimer = "retry"

// scheduleRetry sets the level's retry timer for doc, asked attempt times
// already, after rl: the record is done, the partition goes on.
func (lv *level) scheduleRetry(c *topology.Context[Memory], doc Document, attempt int, rl *RetryLater) error {
	data, err := json.Marshal(RetryDoc{Doc: doc, Attempt: attempt + 1, Reason: rl.Err.Error()})
	if err != nil {
		return fmt.Errorf("level %s: encode retry: %v: %w", lv.Name, err, topology.ErrPermanent)
	}
	return c.SetTimer(topology.Timer{Name: retryTimer, At: c.Now().Add(rl.After), Data: data})
}

// timer sends the document of a retry timer to the level's retry queue.
func (lv *level) timer(c *topology.Context[Memory], id string, t topology.Timer) error {
	if t.Name != retryTimer {
		return nil
	}
	var rd RetryDoc
	if err := json.Unmarshal(t.Data, &rd); err != nil {
		return fmt.Errorf("level %s: retry timer of %s: %v: %w", lv.Name, id, err, topology.ErrPermanent)
	}
	return topology.Emit(c, named(lv.names, RetryQueue(lv.Name)), id, rd)
}

// retryInput returns the input of the level's retry queue: documents asked
// about again, handled as the level's input is.
func (lv *level) retryInput() topology.Input[Memory] {
	q := named(lv.names, RetryQueue(lv.Name))
	if lv.concurrency <= 1 {
		return topology.Consume(q, func(c *topology.Context[Memory], id string, rd RetryDoc) error {
			return lv.handleAttempt(c, id, rd.Doc, rd.Attempt)
		})
	}
	return topology.ConsumeAsync(q, lv.concurrency, topology.JSON[decided](),
		func(ctx context.Context, id string, rd RetryDoc) (decided, error) {
			return lv.workAttempt(ctx, id, rd.Doc, rd.Attempt)
		}, lv.apply)
}

// asRetry returns the RetryLater in err, if the level retries on a timer.
func (lv *level) asRetry(err error) (*RetryLater, bool) {
	var rl *RetryLater
	if !lv.retry || !errors.As(err, &rl) {
		return nil, false
	}
	return rl, true
}
