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

// Store is a goka [storage.Storage] on a Pebble database. It starts in
// recovery mode (see [Store.MarkRecovered]).
//
// A Store is safe for concurrent use: any number of readers with one writer,
// as goka requires, and Close may race with anything. Every method returns
// [ErrClosed] after Close.
type Store struct {
	path   string
	cfg    config
	logger *slog.Logger

	// recovered is set by MarkRecovered after mu.pending.batch is gone. From then
	// on every operation holds mu shared, as pebble.DB is safe for concurrent
	// use; before, every operation holds it exclusively, as the pending
	// batch admits one user at a time. See lock.
	recovered atomic.Bool

	mu struct {
		sync.RWMutex
		// db is nil once the store is closed.
		db *pebble.DB
		// pending holds the recovery writes not yet committed; its batch is
		// nil once recovered or closed. See recovery.go.
		pending pendingBatch
		// iters are the open iterators, closed by Close.
		iters map[*iterator]struct{}
	}
}

// Open opens the store at path, creating the directory and the store if
// needed; a deleted directory is simply recreated empty. The store is ready
// for use; its Open method, which goka calls after the [Builder], does nothing.
// Close releases it.
//
// Only one Store may be open on a path at a time: Pebble locks the directory.
func Open(path string, opts ...Option) (*Store, error) {
	return open(path, newConfig(opts), "path", path)
}

// open opens the store at path; logAttrs identify it in its logs.
func open(path string, cfg config, logAttrs ...any) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger := cfg.logger.With(logAttrs...)
	db, err := pebble.Open(path, cfg.pebbleOptions())
	if err != nil {
		return nil, fmt.Errorf("tables: open %s: %w", path, err)
	}
	s := &Store{path: path, cfg: cfg, logger: logger}
	s.mu.db = db
	s.mu.pending.batch = db.NewIndexedBatch()
	s.mu.iters = make(map[*iterator]struct{})
	logger.Debug("tables: opened store")
	return s, nil
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
	v, closer, err := s.readerLocked().Get([]byte(key))
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
	_, closer, err := s.readerLocked().Get([]byte(key))
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
	if err := s.writerLocked().Set([]byte(key), value, pebble.NoSync); err != nil {
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
	if err := s.writerLocked().Delete([]byte(key), pebble.NoSync); err != nil {
		return fmt.Errorf("tables: delete %q: %w", key, err)
	}
	return s.pendingWrittenLocked()
}

// Close commits the pending recovery writes, closes the open iterators and
// the database, and syncs the write-ahead log, so that everything written
// before Close survives a crash. A second Close returns nil.
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
	errs = append(errs, s.mu.db.Close())
	s.mu.db = nil
	s.logger.Debug("tables: closed store")
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tables: close %s: %w", s.path, err)
	}
	return nil
}
