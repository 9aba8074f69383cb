package gokax

import (
	"context"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// kproc is the franz-go client of one processor run: goka's consumer group
// ([kgroup]) and its producer ([kproducer]) share it, as a Kafka Streams
// thread shares its consumer and producer. franz-go replaced sarama under
// goka there for speed: its consumer hands goka records without sarama's
// goroutine per partition and per broker, and its producer keeps a
// partition's order across retries (one request in flight per broker, see
// [kgoProducerOpts]) and fails only after Producer.Timeout without a broker.
// The producer alone lowered the 4-hop p99 of BenchmarkPipelineLatency at
// 20,000 records/s (figures in the README, "Latency, and its floor on this
// machine").
//
// goka builds the producer first, then the consumer group; the client is
// made by the first and closed by the last to close. Safe for concurrent use.
type kproc struct {
	brokers []string
	cfg     *sarama.Config
	group   string
	tx      *txns          // exactly-once mode: the client is transactional
	iso     *procIsolation // at-least-once mode: suspects are handled in isolation
	acks    *changelogAcks // at-least-once mode: learns the outcome of changelog writes
	denials *Denials       // the ACL denials of the agent's processors; never nil

	mu     sync.Mutex
	cl     *kgo.Client
	err    error // of building the client
	built  bool
	users  int
	hasher func() hash.Hash32

	kg      atomic.Pointer[kgroup]    // the consumer group, once built, for the client's callbacks
	refused atomic.Pointer[error]     // why the broker refused the group, if it did (see refusal)
	prod    atomic.Pointer[kproducer] // the producer, once built
	stop    sync.Once
}

func newKproc(brokers []string, cfg *sarama.Config, group string, tx *txns) *kproc {
	return &kproc{brokers: brokers, cfg: cfg, group: group, tx: tx, hasher: Hasher, denials: new(Denials)}
}

// acquire returns the client, building it on first use with clientID.
func (k *kproc) acquire(clientID string) (*kgo.Client, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.built {
		k.built = true
		k.cl, k.err = k.build(clientID)
	}
	if k.err != nil {
		return nil, k.err
	}
	if k.users < 0 {
		return nil, fmt.Errorf("gokax: processor client of %q closed", k.group)
	}
	k.users++
	return k.cl, nil
}

// release gives the client back; the last user closes it.
func (k *kproc) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.users--
	if k.users == 0 {
		k.users = -1
		k.cl.Close()
	}
}

func (k *kproc) build(clientID string) (*kgo.Client, error) {
	opts, err := kgoCommonOpts(k.brokers, k.cfg, clientID)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgoProducerOpts(k.cfg, k.hasher, k.tx != nil)...)
	opts = append(opts, kgoGroupOpts(k.cfg, k.group)...)
	if k.tx != nil {
		opts = append(opts, k.tx.kgoOpts()...)
		// KIP-447 needs TxnOffsetCommit v3 and stable offset fetches
		// (Kafka 2.5); an older cfg.Version would send neither.
		if !k.cfg.Version.IsAtLeast(sarama.V2_5_0_0) {
			opts = append(opts, kgo.MaxVersions(kversion.V2_5_0()))
		}
	}
	opts = append(opts,
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
			if g := k.kg.Load(); g != nil {
				g.assigned(cl, assigned)
			}
		}),
		kgo.OnPartitionsRevoked(func(context.Context, *kgo.Client, map[string][]int32) {
			if g := k.kg.Load(); g != nil {
				g.end(true /* commit */, "revoked")
			}
		}),
		kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) {
			if g := k.kg.Load(); g != nil {
				g.end(false /* commit: the generation is gone */, "lost")
			}
		}),
		kgo.OnOffsetsFetched(func(_ context.Context, _ *kgo.Client, resp *kmsg.OffsetFetchResponse) error {
			if g := k.kg.Load(); g != nil {
				return g.fetched(resp)
			}
			return nil
		}),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("gokax: processor client of %q: %w", k.group, err)
	}
	if k.tx != nil {
		k.tx.cl = cl
	}
	return cl, nil
}

// producerBuilder returns goka's producer builder for the processor.
func (k *kproc) producerBuilder() goka.ProducerBuilder {
	return func(_ []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		k.mu.Lock()
		if !k.built {
			k.hasher = hasher
		}
		k.mu.Unlock()
		cl, err := k.acquire(clientID)
		if err != nil {
			return nil, err
		}
		p := newKproducer(k, cl)
		k.prod.Store(p)
		return p, nil
	}
}

// stopping is called when the processor begins to stop: goka's partition
// processors then wait up to 60 s for their records' writes, so writes
// still buffered after [closeGrace] fail (the records are not committed,
// and whoever takes their partitions over reads them again).
func (k *kproc) stopping() {
	k.stop.Do(func() {
		p := k.prod.Load()
		if p == nil {
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
			defer cancel()
			if err := p.cl.Flush(ctx); err != nil {
				p.fail(errClosing)
			}
		}()
	})
}

// consumerGroupBuilder returns goka's consumer group builder for the
// processor.
func (k *kproc) consumerGroupBuilder() goka.ConsumerGroupBuilder {
	return func(_ []string, _, clientID string) (sarama.ConsumerGroup, error) {
		cl, err := k.acquire(clientID)
		if err != nil {
			return nil, err
		}
		g := newKgroup(k, cl)
		k.kg.Store(g)
		return g, nil
	}
}
