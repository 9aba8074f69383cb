package gokax

import (
	"hash"
	"log/slog"
	"slices"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/sluicehq/sluice/internal/logadapt"
)

// processorOptions returns goka's options for a processor of group, whose
// table is table, in mode md, on cfg: every client goka builds is sluice's,
// tracked in cons so that the processor closes what goka leaks. It returns
// the processor's franz-go client too ([kproc]).
func processorOptions(group, table string, o Options, cfg *sarama.Config, logger *slog.Logger, md *mode, cons *consumers) ([]goka.ProcessorOption, *kproc) {
	st, acks := md.storage(o.Storage, table)
	// The producer and the consumer group are franz-go's, on one client
	// (see kproc), transactional in exactly-once mode. The producer reports
	// the outcome of each changelog write to acks (see changelogAcks).
	kp := newKproc(o.Brokers, cfg, group, md.tx)
	kp.iso = md.iso
	kp.acks = acks
	if o.Denials != nil {
		kp.denials = o.Denials
	}
	// A denied read of a table's changelog fails the partition's
	// recovery, and the processor: time it across runs.
	cons.watch = &fetchWatch{denials: kp.denials,
		deny: func(topic string, err error) { kp.deny(err, "READ", topic, "fetch", true) }}
	producers := kp.producerBuilder()
	groups := kp.consumerGroupBuilder()
	opts := []goka.ProcessorOption{
		goka.WithStorageBuilder(st),
		goka.WithClientID("sluice-" + group),
		goka.WithLogger(logadapt.Goka(logger.With("agent", group))),
		goka.WithNilHandling(goka.NilProcess),
		goka.WithHasher(Hasher),
		goka.WithProducerBuilder(producers),
		goka.WithConsumerGroupBuilder(func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
			return md.commits.wrap(groups(brokers, group, clientID))
		}),
		goka.WithConsumerSaramaBuilder(consumerBuilder(cfg, md.tx != nil, cons)),
		goka.WithTopicManagerBuilder(func(brokers []string) (goka.TopicManager, error) {
			return cons.trackManager(TopicManagerBuilder(cfg)(brokers))
		}),
	}
	opts = append(opts, goka.WithPartitionChannelSize(PartitionChannelSize))
	if o.OnAssign != nil {
		onAssign := o.OnAssign
		opts = append(opts, goka.WithRebalanceCallback(func(a goka.Assignment) {
			parts := make([]int32, 0, len(a))
			for p := range a {
				parts = append(parts, p)
			}
			slices.Sort(parts)
			onAssign(parts)
		}))
	}
	if o.Tester != nil {
		// Last: goka applies options in order, so this overrides every builder above
		// (and the client ID, by which the tester finds the processor's consumers).
		opts = append(opts, goka.WithTester(o.Tester))
	}
	return opts, kp
}

// consumerBuilder returns goka's builder of the consumers that read tables
// (recovery, joins, views) on cfg: franz-go's ([kconsumer]), tracked in
// cons; with markers (exactly-once mode), one that reads committed records
// and keeps transaction markers.
func consumerBuilder(cfg *sarama.Config, markers bool, cons *consumers) goka.SaramaConsumerBuilder {
	return func(brokers []string, clientID string) (sarama.Consumer, error) {
		c, err := newKconsumer(brokers, cfg, clientID, markers, cons.watch)
		if err != nil {
			return nil, err
		}
		return cons.track(c, nil)
	}
}

// ProducerBuilder returns a goka producer builder on cfg ([kemitter]),
// partitioning by goka's hasher so that emitters and processors agree.
func ProducerBuilder(cfg *sarama.Config) goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		return newKemitter(brokers, cfg, clientID, hasher)
	}
}

// TopicManagerBuilder returns a goka topic manager builder that checks topics but
// never creates them: sluice provisions every topic before it starts a processor,
// with the settings the topology declares. A missing topic is [ErrNoTopic].
func TopicManagerBuilder(cfg *sarama.Config) goka.TopicManagerBuilder {
	return func(brokers []string) (goka.TopicManager, error) {
		c := clone(cfg)
		c.ClientID = "sluice-topic-manager"
		return newTopicManager(brokers, c)
	}
}
