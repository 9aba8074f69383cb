package broker

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is an embedded single-node Kafka-protocol broker (kfake), kept in
// memory or persisted to a [DataDir]. Its methods are safe for concurrent use.
type Broker struct {
	c       *kfake.Cluster
	addrs   []string
	log     *closeLog
	reaper  *reaper
	cleaner *cleaner

	mu struct {
		// RWMutex rather than Mutex: Compact holds it shared while the
		// cleaner runs, Close exclusively, because a kfake call after its
		// Close blocks forever.
		sync.RWMutex
		closed bool
	}
}

// Start starts a broker configured by opts. It returns once the broker
// accepts connections on [Broker.Addrs]; the caller must [Broker.Close] it.
//
// The broker creates no topic on its own: automatic topic creation is off,
// so clients must create topics (with kadm or any CreateTopics request)
// before producing. It has one node, so a CreateTopics request with a
// replication factor above 1 fails with "Replication-factor is invalid";
// ask for 1 or -1 (the broker default). CreateTopics with -1 partitions gets
// kfake's default of 10.
//
// Start returns [ErrBadListen] or [ErrBadCleanerInterval] for a bad option,
// the wrapped operating system error when the listen address cannot be
// bound (a port in use), and a wrapped kfake error when the state in
// [DataDir] cannot be loaded.
func Start(opts ...Option) (*Broker, error) {
	cfg := newConfig(opts)
	if cfg.cleanerInterval < time.Millisecond {
		// kfake would hand 0 ms to time.NewTicker, which panics.
		return nil, fmt.Errorf("%w: %v", ErrBadCleanerInterval, cfg.cleanerInterval)
	}
	ln, err := listen(cfg.listen)
	if err != nil {
		return nil, err
	}
	secure, err := cfg.secure()
	if err != nil {
		ln.Close()
		return nil, err
	}
	sl := newListener(ln, cfg.tls)
	log := newCloseLog(cfg.logger)
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(listenOnce(sl)),
		kfake.WithLogger(log),
		// The broker runs kfake's cleaner itself (cleaner.go).
		kfake.BrokerConfigs(map[string]string{cleanerConfig: strconv.FormatInt(cleanerOff, 10)}),
	}
	if cfg.dataDir != "" && uncleanDataDir(cfg.dataDir) {
		// A failure here is logged, not returned: the broker serves its data
		// either way, and read-committed readers of the partition it failed
		// on may skip records or wait, as without this step.
		n, err := abortOrphans(cfg)
		if err != nil {
			cfg.logger.Warn("broker did not close: could not abort every transaction it left open", "data_dir", cfg.dataDir, "markers", n, "error", err)
		} else {
			cfg.logger.Info("broker did not close: aborted the transactions it left open", "data_dir", cfg.dataDir, "markers", n)
		}
	}
	if cfg.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(cfg.dataDir))
		if cfg.syncWrites {
			kopts = append(kopts, kfake.SyncWrites())
		}
	}
	kopts = append(kopts, secure...)
	c, err := newCluster(kopts)
	if err != nil {
		sl.Close() // kfake closes it on most failures, not on a panic
		return nil, fmt.Errorf("broker: start: %w", err)
	}
	b := &Broker{c: c, addrs: c.ListenAddrs(), log: log}
	internal := cfg.internalOpts(sl)
	if err := startAuthenticator(c, b.addrs[0], cfg.users, internal); err != nil {
		return nil, errors.Join(fmt.Errorf("broker: start: %w", err), b.Close())
	}
	if b.reaper, err = startReaper(c, b.addrs[0], reapInterval, internal); err != nil {
		return nil, errors.Join(fmt.Errorf("broker: start: %w", err), b.Close())
	}
	if b.cleaner, err = startCleaner(c, b.addrs[0], cfg.cleanerInterval, cfg.logger, internal); err != nil {
		return nil, errors.Join(fmt.Errorf("broker: start: %w", err), b.Close())
	}
	return b, nil
}

// newCluster is kfake.NewCluster with a panic turned into an error: kfake
// validates little, and no panic may cross sluice's API.
func newCluster(opts []kfake.Opt) (c *kfake.Cluster, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("kfake panicked: %v", r)
		}
	}()
	return kfake.NewCluster(opts...)
}

// Addrs returns the broker's address as "host:port", for kgo.SeedBrokers
// and the like. The returned slice is the caller's.
func (b *Broker) Addrs() []string {
	return append([]string(nil), b.addrs...)
}

// Close stops the broker: it stops accepting connections, drops the open
// ones and, with a [DataDir], writes the broker's state so that a broker
// started on the same dir serves it again. It returns the errors kfake hit
// while writing that state. Close is safe to call more than once; later
// calls return nil.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.closed {
		return nil
	}
	b.mu.closed = true
	if b.cleaner != nil {
		b.cleaner.close()
	}
	if b.reaper != nil {
		b.reaper.close()
	}
	b.log.closing.Store(true)
	b.c.Close()
	if err := b.log.errs(); err != nil {
		return fmt.Errorf("broker: close: %w", err)
	}
	return nil
}

// Compact runs the log cleaner now: every topic with cleanup.policy=compact
// keeps only the latest record per key, and retention settings are applied.
// As Kafka never cleans the active segment, kfake never cleans a partition's
// last produced batch: a key written there keeps its older records too.
// Tombstones go after delete.retention.ms (1 day by default).
//
// As Kafka cleans only below the last stable offset, the broker compacts
// only while no partition of a compacted topic holds a record of an open
// transaction: if one does, Compact holds the requests that would start a
// transaction on a compacted topic for up to half a second, while the open
// ones end, and if one is still open then, it applies retention only. It reports whether it
// compacted. Compact does nothing after [Broker.Close] and reports false.
func (b *Broker) Compact() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.mu.closed {
		return false
	}
	return b.cleaner.now()
}

// Cluster returns the underlying kfake cluster, for fault injection in tests
// (ControlKey, KeepControl, MoveTopicPartition and the like). Do not Close it
// directly, and call none of its methods after [Broker.Close]: kfake serves
// them from its event loop, so after Close they block forever.
func (b *Broker) Cluster() *kfake.Cluster {
	return b.c
}
