package topology

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/gokax"
)

// healthyAfter is how long an agent must run before a failure is treated as new
// rather than a continuation of the last one: the restart backoff then resets.
const healthyAfter = time.Minute

// supervise runs one agent, restarting it with backoff whenever it fails, until ctx
// is done. goka's processor returns on broker trouble (lost connection, refused
// write) and never restarts; this loop does, and logs why. A consumer group
// the cluster refused for its configuration ([ErrGroupRefused]), and an
// operation its ACLs denied for longer than Consumer.Group.Rebalance.Timeout
// ([ErrNotAuthorized]), are final: it returns that error, which stops Run.
func supervise(ctx context.Context, a agentSpec, brokers []string, c *runConfig) error {
	rt := newAgentRuntime(a, c)
	group := a.newGroup(rt)
	log := rt.log
	if a.state != nil {
		dir := filepath.Join(c.dataDir, "state", group.Name)
		rt.metrics.agent.TableSize(func() (int64, error) { return dirSize(dir) })
	}
	wait := c.restartMin
	for restarts := 0; ; restarts++ {
		start := time.Now()
		err := runOnce(ctx, a, rt, group, brokers, c)
		if ctx.Err() != nil {
			log.Info("agent stopped", "processed", rt.processed.Load(), "dead_lettered", rt.deadLettered.Load())
			return nil
		}
		if errors.Is(err, ErrGroupRefused) || errors.Is(err, ErrNotAuthorized) {
			return fmt.Errorf("agent %q: %w", a.name, err) // a restart is refused the same way
		}
		if time.Since(start) > healthyAfter {
			wait = c.restartMin
		}
		log.Warn("agent failed; restarting", "error", err, "in", wait, "restarts", restarts+1)
		rt.metrics.agent.Restarted()
		if !sleep(ctx, wait) {
			return nil
		}
		wait = min(2*wait, c.restartMax)
	}
}

// runOnce builds a fresh goka processor for group and runs it until it stops. An
// agent with asynchronous inputs gets a producer for their results; runOnce waits
// for all of their work to finish before it returns.
func runOnce(ctx context.Context, a agentSpec, rt *agentRuntime, group groupDef, brokers []string, c *runConfig) (err error) {
	o := gokax.Options{
		Brokers: brokers,
		Config:  c.kafka,
		Storage: c.storageBuilder(filepath.Join(c.dataDir, "state", group.Name)),
		Logger:  c.logger,
	}
	o.Config = rt.fitSizes(ctx, a, brokers, c.kafka)
	if c.exactlyOnce {
		o.ExactlyOnce = &gokax.ExactlyOnce{Instance: c.instance, CommitInterval: c.commitInterval}
	}
	o.Suspects = &rt.suspects // a refused write's suspects outlive this run
	o.Denials = &rt.denials   // and so does a denial's streak
	var timers *timerRun
	if a.timers != nil {
		prod, err := gokax.NewProducer(brokers, "sluice-"+a.name+"-timers", c.kafka)
		if err != nil {
			return err
		}
		timers = newTimerRun(rt, *a.timers, a.loop.name)
		timers.brokers, timers.cfg, timers.producer = brokers, c.kafka, prod
		timers.markers, timers.readCommitted = !c.exactlyOnce, c.exactlyOnce
		o.OnMark = timers.marked
		o.OnRevoke = timers.revoke
		rt.timers = timers
		tctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { timers.schedule(tctx) })
		defer func() {
			stop()
			wg.Wait()
			timers.close()
			err = errors.Join(err, prod.Close())
			rt.timers = nil
		}()
	}
	o.OnAssign = func(parts []int32) {
		rt.metrics.agent.Assigned(len(parts))
		if timers != nil {
			timers.assign(ctx, parts)
		}
		if c.onAssign != nil {
			c.onAssign(rt.name, parts)
		}
	}
	if a.loop != nil {
		prod, err := gokax.NewProducer(brokers, "sluice-"+a.name+"-async", c.kafka)
		if err != nil {
			return err
		}
		ar := &asyncRun{producer: prod, loop: a.loop.name, parts: map[int32]*partitionQueue{}}
		rt.async = ar
		defer func() {
			ar.wg.Wait()
			err = errors.Join(err, prod.Close())
			rt.async = nil
		}()
	}
	p, err := gokax.NewProcessor(group, o)
	if err != nil {
		return err
	}
	if group.Stateful {
		defer watchRecovery(ctx, rt, p, recoveryPoll)()
	}
	return p.Run(ctx)
}
