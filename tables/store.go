package tables

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
)

var _ storage.Storage = (*Store)(nil)

// Store is a goka [storage.Storage] on a Pebble database: one table
// partition's keys, under a prefix of a database that a [Builder] shares
// among every partition built in its directory, or a database of its own
// opened with [Open]. It starts in recovery mode (see [Store.MarkRecovered]).
//
// A Store is safe for concurrent use: any number of readers with one writer,
// as goka requires, and Close may race with anything. Every method returns
// [ErrClosed] after Close.
type Store struct {
	path   string
	cfg    config
	logger *slog.Logger
	// prefix is the partition's key prefix in a shared database (see
	// partitionPrefix), nil in a database of its own; offsetKey is where the
	// partition's offset is, under the prefix.
	prefix    []byte
	offsetKey []byte
	// release closes the database, or releases the shared one; it is called
	// once, by Close.
	release func() error
	// watch notices the database's directory deleted under it (see ErrWiped).
	watch *dirWatch

	// recovered is set by MarkRecovered after mu.pending.batch is gone. From then
	// on every operation holds mu shared, as pebble.DB is safe for concurrent
	// use; before, every operation holds it exclusively, as the pending
	// batch admits one user at a time. See lock.
	recovered atomic.Bool

	mu struct {
		sync.RWMutex
		// db is nil once the store is closed; a shared one stays open for
		// the other partitions.
		db *pebble.DB
		// pending holds the recovery writes not yet committed; its batch is
		// nil once recovered or closed. See recovery.go.
		pending pendingBatch
		// iters are the open iterators, closed by Close.
		iters map[*iterator]struct{}
	}
}

// Open opens a store with a database of its own at path, creating the
// directory and the database if needed; a deleted directory is simply
// recreated empty. Its keys are stored as they are, without a partition
// prefix: the files are those of a partition directory of the earlier
// per-partition layout. The store is ready for use; its Open method, which
// goka calls, does nothing. Close releases it. Sluice's agents use [Builder],
// which keeps all partitions of a directory in one database.
//
// Only one Store may be open on a path at a time: Pebble locks the directory.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := newConfig(opts)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	db, err := pebble.Open(path, cfg.pebbleOptions())
	if err != nil {
		return nil, fmt.Errorf("tables: open %s: %w", path, err)
	}
	watch, err := newDirWatch(path)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s := newStore(path, db, nil, cfg, cfg.logger.With("path", path), db.Close)
	s.watch = watch
	return s, nil
}

// newStore returns a store, in recovery mode, on the keys of db under prefix.
func newStore(path string, db *pebble.DB, prefix []byte, cfg config, logger *slog.Logger, release func() error) *Store {
	s := &Store{path: path, cfg: cfg, logger: logger, prefix: prefix, release: release}
	s.offsetKey = s.key(offsetName)
	s.mu.db = db
	s.mu.pending.batch = db.NewIndexedBatch()
	s.mu.iters = make(map[*iterator]struct{})
	logger.Debug("tables: opened store")
	return s
}

// key returns the database key of the partition's key k.
func (s *Store) key(k string) []byte {
	b := make([]byte, len(s.prefix)+len(k))
	copy(b, s.prefix)
	copy(b[len(s.prefix):], k)
	return b
}

// lock locks s.mu for one operation, shared once the store is recovered and
// exclusive before, and reports which; pass the result to unlock.
func (s *Store) lock() (shared bool) {
	if s.recovered.Load() {
		s.mu.RLock()
		return true
	}
	s.mu.Lock()
	return false
}

func (s *Store) unlock(shared bool) {
	if shared {
		s.mu.RUnlock()
	} else {
		s.mu.Unlock()
	}
}

// readerLocked returns where reads go: through the pending recovery batch
// while there is one, so that they see its writes, else to the database.
func (s *Store) readerLocked() pebble.Reader {
	if s.mu.pending.batch != nil {
		return s.mu.pending.batch
	}
	return s.mu.db
}

// writerLocked returns where writes go: to the pending batch during recovery,
// else to the database.
func (s *Store) writerLocked() pebble.Writer {
	if s.mu.pending.batch != nil {
		return s.mu.pending.batch
	}
	return s.mu.db
}

// Open implements [storage.Storage]. The store is open already (see [Open]);
// Open returns nil, or [ErrClosed] after Close.
func (s *Store) Open() error {
	shared := s.lock()
	defer s.unlock(shared)
	if s.mu.db == nil {
		return ErrClosed
	}
	return nil
}

// Get returns a copy of the value of key, or nil and no error if key does not
// exist. A key set to an empty value returns an empty, non-nil slice.
func (s *Store) Get(key string) ([]byte, error) {
	shared := s.lock()
	defer s.unlock(shared)
	if s.mu.db == nil {
		return nil, ErrClosed
	}
	v, closer, err := s.readerLocked().Get(s.key(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tables: get %q: %w", key, err)
	}
	// Non-nil even when empty, like goka's LevelDB storage.
	out := append([]byte{}, v...)
	return out, closer.Close()
}

// Has reports whether key exists.
func (s *Store) Has(key string) (bool, error) {
	shared := s.lock()
	defer s.unlock(shared)
	if s.mu.db == nil {
		return false, ErrClosed
	}
	_, closer, err := s.readerLocked().Get(s.key(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("tables: has %q: %w", key, err)
	}
	return true, closer.Close()
}

// Set stores value under key; Set copies value. A nil value is stored as an
// empty one, as goka's LevelDB storage does (goka's memory storage rejects it).
// The write is not synced: the table's compacted changelog is the source of
// truth, and a write lost to a crash is replayed from it (see offset.go).
func (s *Store) Set(key string, value []byte) error {
	shared := s.lock()
	defer s.unlock(shared)
	if s.mu.db == nil {
		return ErrClosed
	}
	if err := s.checkDirectLocked(); err != nil {
		return err
	}
	if err := s.writerLocked().Set(s.key(key), value, pebble.NoSync); err != nil {
		return fmt.Errorf("tables: set %q: %w", key, err)
	}
	return s.pendingWrittenLocked()
}

// Delete removes key; deleting a missing key is not an error. Like Set, it is
// not synced.
func (s *Store) Delete(key string) error {
	shared := s.lock()
	defer s.unlock(shared)
	if s.mu.db == nil {
		return ErrClosed
	}
	if err := s.checkDirectLocked(); err != nil {
		return err
	}
	if err := s.writerLocked().Delete(s.key(key), pebble.NoSync); err != nil {
		return fmt.Errorf("tables: delete %q: %w", key, err)
	}
	return s.pendingWrittenLocked()
}

// checkDirectLocked checks, now and then, that the database's directory is
// still there before a write that goes straight to the database (see
// ErrWiped); writes to the pending batch are checked when it is committed.
func (s *Store) checkDirectLocked() error {
	if s.mu.pending.batch != nil {
		return nil
	}
	return s.watch.check(false)
}

// Close commits the pending recovery writes, closes the open iterators, and
// closes the database or, if it is shared, releases it (the last store of a
// shared database closes it). Closing a database syncs its write-ahead log,
// so that everything written before survives a crash; releasing a shared
// one leaves that to its last Close, to Sync and MarkRecovered. A second
// Close returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.db == nil {
		return nil
	}
	for it := range s.mu.iters {
		it.closeLocked()
	}
	var errs []error
	if s.mu.pending.batch != nil {
		errs = append(errs, s.flushLocked(pebble.NoSync /* db.Close syncs */))
		errs = append(errs, s.mu.pending.batch.Close())
		s.mu.pending.batch = nil
	}
	errs = append(errs, s.release())
	s.mu.db = nil
	s.logger.Debug("tables: closed store")
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tables: close %s: %w", s.path, err)
	}
	return nil
}
