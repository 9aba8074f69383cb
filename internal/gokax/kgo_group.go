package gokax

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kgroup is goka's consumer group on franz-go: a sarama.ConsumerGroup whose
// sessions follow the franz-go group's assignments.
//
// A session begins when franz-go assigns partitions (OnPartitionsAssigned)
// and ends when it revokes or loses them, when the processor stops, or when
// one of goka's ConsumeClaim calls returns (goka's partition processor
// failed), as a sarama session ends then. Unlike sarama's, Consume runs one
// session after another and returns only when the processor stops or a
// session failed: goka sleeps a hard-coded 5 s before it calls Consume
// again, which sluice's takeovers no longer wait.
//
// One goroutine polls the client and hands each partition's records to its
// claim ([kclaim]); franz-go runs rebalance callbacks only between polls
// (BlockRebalanceOnPoll), so records always reach the session they were
// fetched for. Offsets goka marks (through [commits], in order) are
// committed every Consumer.Offsets.AutoCommit.Interval and when the session
// is revoked, never after it ended: a member that lost partitions must not
// move their offsets.
type kgroup struct {
	k   *kproc
	cl  *kgo.Client
	cfg *sarama.Config

	errs     chan error
	pollStop context.CancelFunc
	bg       sync.WaitGroup // the poll and commit loops
	start    sync.Once
	closing  sync.Once

	refused  chan struct{} // closed when the broker refused the group (see refuse)
	refusing sync.Once

	mu   sync.Mutex
	cur  *ksession     // assigned and not ended
	wake chan struct{} // closed and replaced when cur changes

	commitMu sync.Mutex // serializes commits with the end of a session
}

func newKgroup(k *kproc, cl *kgo.Client) *kgroup {
	return &kgroup{k: k, cl: cl, cfg: k.cfg, errs: make(chan error, 16), wake: make(chan struct{}),
		refused: make(chan struct{})}
}

// Consume joins the group with topics (on the first call) and runs goka's
// handler h over the group's sessions until ctx is done, a session fails or
// the broker refused the group ([ErrGroupRefused]).
func (g *kgroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	g.start.Do(func() {
		pctx, cancel := context.WithCancel(context.Background())
		g.pollStop = cancel
		g.cl.AddConsumeTopics(topics...)
		g.bg.Go(func() { g.poll(pctx) })
		g.bg.Go(func() { g.commitLoop(pctx) })
	})
	for {
		if err := g.k.refusal(); err != nil {
			return err
		}
		g.mu.Lock()
		s, wake := g.cur, g.wake
		g.mu.Unlock()
		if s != nil && s.begin() {
			if err := g.run(ctx, s, h); err != nil || ctx.Err() != nil {
				return err
			}
			continue
		}
		select {
		case <-wake:
		case <-g.refused:
		case <-ctx.Done():
			g.k.stopping()
			return nil
		}
	}
}

// errClaimEnded fails a session one of whose claims ended by itself.
var errClaimEnded = errors.New("gokax: a partition stopped consuming")

// run runs one session: Setup, a ConsumeClaim per claim until the session
// ends, Cleanup. It returns Setup's or Cleanup's error, and fails a session
// that a claim ended (a failed partition processor).
func (g *kgroup) run(ctx context.Context, s *ksession, h sarama.ConsumerGroupHandler) error {
	defer s.finish()
	if err := h.Setup(s); err != nil {
		g.k.deny(err, "WRITE", "", "transaction start", false) // exactly-once: the transaction's
		s.stop("setup failed")
		return errors.Join(err, h.Cleanup(s))
	}
	var wg sync.WaitGroup
	for _, c := range s.parts {
		wg.Go(func() {
			if err := h.ConsumeClaim(s, c); err != nil {
				g.error(err)
			}
			s.stop("claim ended")
		})
	}
	select {
	case <-s.ctx.Done():
	case <-ctx.Done():
		g.k.stopping()
		s.stop("processor stopping")
	}
	wg.Wait()
	err := h.Cleanup(s)
	if ctx.Err() != nil {
		// The processor stops: its writes that failed because it stopped
		// (see kproc.stopping) are no failure, and goka reports them with
		// their error chain flattened. Nothing is lost either way: a
		// record whose write failed is not committed.
		return nil
	}
	if s.reason() == "claim ended" {
		err = errors.Join(err, errClaimEnded)
	}
	return err
}

// assigned begins a session with the partitions franz-go assigned. It is
// called from franz-go's group loop, between polls.
func (g *kgroup) assigned(cl *kgo.Client, assigned map[string][]int32) {
	member, gen := cl.GroupMetadata()
	s := newKsession(g, assigned, member, gen)
	g.mu.Lock()
	g.cur = s
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}

// fetched checks the committed offsets franz-go fetched for a session that
// begins (after [kgroup.assigned]). A partition whose topic the ACLs deny
// the principal (TOPIC_AUTHORIZATION_FAILED) fails the session, which
// franz-go then joins again after a backoff: left alone, franz-go would say
// so once and consume the rest, the partition unread until the next
// rebalance, granted or not. The denial is timed ([kproc.deny]). Offsets
// fetched without one end the streaks of the group's denials and of the
// reads of the topics fetched for (not those of its tables' changelogs):
// the broker let the member in and told it where to read.
// It is called from franz-go's group loop.
func (g *kgroup) fetched(resp *kmsg.OffsetFetchResponse) error {
	var denial error
	fetched := map[string]bool{}
	check := func(topics []kmsg.OffsetFetchResponseGroupTopic) {
		for _, t := range topics {
			fetched[t.Topic] = true
			for _, p := range t.Partitions {
				err := kerr.ErrorForCode(p.ErrorCode)
				if err != nil && t.Topic != "" && g.k.deny(err, "READ", t.Topic, "offset fetch", false) {
					denial = fmt.Errorf("gokax: offset fetch of %q partition %d: %w", t.Topic, p.Partition, err)
				}
			}
		}
	}
	for _, gr := range resp.Groups {
		check(gr.Topics)
	}
	if denial != nil {
		return denial
	}
	g.k.denials.clear(func(d grant) bool { return d.resource == "group" || d.op == "READ" && fetched[d.name] })
	return nil
}

// end ends the current session, if any, and waits until goka cleaned it up;
// with commit, it then commits the session's last marks. It is called from
// franz-go's group loop, between polls, when the partitions are revoked or
// lost (which leaving the group does too).
func (g *kgroup) end(commit bool, why string) {
	g.mu.Lock()
	s := g.cur
	g.cur = nil
	g.mu.Unlock()
	if s == nil {
		return
	}
	s.stop(why)
	<-s.done
	g.commitMu.Lock()
	s.ended = true
	if commit {
		g.commit(s)
	}
	g.commitMu.Unlock()
	s.resumeAll()
}

// poll fetches records until ctx is done and hands each partition's records
// to its claim in the current session; records of partitions the session
// does not hold (none, as rebalances happen between polls) are dropped.
func (g *kgroup) poll(ctx context.Context) {
	for {
		fs := g.cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			g.cl.AllowRebalance()
			return
		}
		deniedFetch := false
		fs.EachError(func(topic string, p int32, err error) {
			if refusal := groupRefusal(g.cfg, g.k.group, err); refusal != nil {
				g.refuse(refusal)
				return
			}
			if gs := (*kgo.ErrGroupSession)(nil); errors.As(err, &gs) {
				// A join, sync, heartbeat or offset fetch: franz-go
				// rejoins after a backoff of up to 5 s, and only
				// offsets fetched (see fetched) end the denial.
				g.k.deny(gs.Err, "READ", "", "join", false)
			} else {
				// Fetches are repeated at once, and a metadata
				// refresh's denial of a topic every few seconds.
				deniedFetch = g.k.deny(err, "READ", topic, "fetch", true) || deniedFetch
			}
			if g.k.refusal() == nil && !errors.Is(err, context.Canceled) {
				g.error(&sarama.ConsumerError{Topic: topic, Partition: p, Err: err})
			}
		})
		g.mu.Lock()
		s := g.cur
		g.mu.Unlock()
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			g.k.denials.clearTopic("READ", p.Topic)
			if s == nil {
				return
			}
			if c := s.parts[topicPartition{p.Topic, p.Partition}]; c != nil {
				c.push(p.Records, p.HighWatermark)
			}
		})
		g.cl.AllowRebalance()
		if deniedFetch && fs.NumRecords() == 0 {
			// franz-go fetches a denied partition again as soon as
			// its error was polled: 12,000 fetches a second on the
			// embedded broker. Poll the next denial a little later.
			select {
			case <-ctx.Done():
			case <-time.After(deniedPollPause):
			}
		}
	}
}

// deniedPollPause is how long the poll loop waits after a poll that
// brought fetch denials and no records.
const deniedPollPause = 100 * time.Millisecond

// commitLoop commits the current session's marks every
// Consumer.Offsets.AutoCommit.Interval.
func (g *kgroup) commitLoop(ctx context.Context) {
	every := g.cfg.Consumer.Offsets.AutoCommit.Interval
	if every <= 0 {
		every = time.Second
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		g.mu.Lock()
		s := g.cur
		g.mu.Unlock()
		if s == nil {
			continue
		}
		g.commitMu.Lock()
		if !s.ended {
			g.commit(s)
		}
		g.commitMu.Unlock()
	}
}

// commit commits s's marks synchronously; commitMu is held. A failed
// commit is reported and its marks are kept for the next. In exactly-once
// mode it does nothing: marks go to the transaction (see [commits]).
func (g *kgroup) commit(s *ksession) {
	if g.k.tx != nil {
		return
	}
	offsets := s.takeMarks()
	if len(offsets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.Consumer.Group.Rebalance.Timeout)
	defer cancel()
	g.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsgOffsetCommitRequest, resp *kmsgOffsetCommitResponse, err error) {
		if err == nil {
			err = commitResponseErr(resp)
		}
		if err != nil {
			s.restoreMarks(offsets)
			g.error(fmt.Errorf("gokax: commit offsets: %w", err))
		}
	})
}

// error reports err on Errors, dropping it if nobody reads.
func (g *kgroup) error(err error) {
	select {
	case g.errs <- err:
	default:
	}
}

// Errors returns the group's errors: fetch and commit failures. goka logs
// them; franz-go retries what can be retried.
func (g *kgroup) Errors() <-chan error { return g.errs }

// Close leaves the group (ending the session, with a last commit) and
// stops polling. The client closes when the producer closed too.
func (g *kgroup) Close() error {
	g.closing.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.Consumer.Group.Rebalance.Timeout)
		defer cancel()
		g.cl.LeaveGroupContext(ctx)
		g.end(true, "closed") // if leaving ran no callback
		if g.pollStop != nil {
			g.pollStop()
		}
		g.bg.Wait()
		g.k.kg.CompareAndSwap(g, nil)
		g.k.release()
	})
	return nil
}

// Pause stops fetching partitions until resumed.
func (g *kgroup) Pause(partitions map[string][]int32) { g.cl.PauseFetchPartitions(partitions) }

// Resume resumes fetching partitions.
func (g *kgroup) Resume(partitions map[string][]int32) { g.cl.ResumeFetchPartitions(partitions) }

// PauseAll stops fetching every topic until resumed.
func (g *kgroup) PauseAll() { g.cl.PauseFetchTopics(g.cl.GetConsumeTopics()...) }

// ResumeAll resumes fetching every topic.
func (g *kgroup) ResumeAll() { g.cl.ResumeFetchTopics(g.cl.GetConsumeTopics()...) }

var _ sarama.ConsumerGroup = (*kgroup)(nil)
