package visa

import (
	"context"
	"errors"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// Produce writes count records of g to [Applications] on the cluster named by
// opts (topology.Brokers is required), rate a second (0: as fast as the producer
// takes them), and calls sent, if not nil, with each record just before it is
// handed to the producer. It returns when every record is acknowledged, with the
// first failures if some were not, or with ctx.Err() if ctx ends first.
//
// Malformed records go through an emitter of raw bytes on the same topic: the
// graph's stream of applications has a JSON codec, and no JSON codec writes
// broken JSON.
func Produce(ctx context.Context, g *Generator, count, rate int, sent func(Item), opts ...topology.Option) (err error) {
	apps, err := topology.NewEmitter(Applications, opts...)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, apps.Close()) }()
	raw, err := topology.NewEmitter(rawApplications, opts...)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, raw.Close()) }()

	start := time.Now()
	var wait *time.Timer
	for i := range count {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
				if wait == nil {
					wait = time.NewTimer(d)
					defer wait.Stop()
				} else {
					wait.Reset(d)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-wait.C:
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		it := g.Next()
		if sent != nil {
			sent(it) // before the send: its outcome may arrive before Send returns
		}
		if it.Raw != nil {
			err = raw.Send(it.ID, it.Raw)
		} else {
			err = apps.Send(it.ID, it.App)
		}
		if err != nil {
			return err
		}
	}
	return errors.Join(apps.Flush(ctx), raw.Flush(ctx))
}
