package tables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// A shared database is one Pebble database holding the partitions of every
// table that a [Builder] builds in one directory: a sluice agent's own table,
// and the tables it joins and looks up. Each partition is a [Store] on a key
// prefix of its own (see partitionPrefix), with its own offset, so a
// partition costs what its data costs: no write-ahead log, memtable, block
// cache, file lock or goroutines of its own. One database per agent (per
// directory) rather than per process keeps what deleting an agent's
// directory means: its tables, and only its, are rebuilt from their
// changelogs.
//
// The database is opened by the first partition built in its directory and
// closed when the last one closes (goka opens and closes partitions as they
// are assigned and revoked, and a restarted processor builds them anew), so
// that a deleted directory is created again, empty, by the next open.
type sharedDB struct {
	path  string
	db    *pebble.DB
	watch *dirWatch
	// cfg is the configuration of the builder that opened the database; later
	// builders of the same directory share it as it is.
	cfg config
	// refs is the number of open stores; parts the open partitions. Both
	// are guarded by registry.mu.
	refs  int
	parts map[string]bool
}

// registry holds the open shared databases by absolute path.
var registry struct {
	mu  sync.Mutex
	dbs map[string]*sharedDB
}

// partitionPrefix is the key prefix of a table partition in a shared
// database: 't', the table name, a zero byte (Kafka topic names have none),
// and the partition as 4 big-endian bytes. Every prefix is a distinct
// string that is no prefix of another, so partitions' key ranges never
// overlap.
func partitionPrefix(table string, partition int32) []byte {
	p := make([]byte, 0, len(table)+6)
	p = append(p, 't')
	p = append(p, table...)
	p = append(p, 0)
	return binary.BigEndian.AppendUint32(p, uint32(partition))
}

// acquire opens a store on the partition of table in the shared database in
// dir, opening the database first if no store has it open. A partition may
// be open once at a time, as a directory of the per-partition layout could:
// a second open fails.
func acquire(dir, table string, partition int32, cfg config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	path, err := filepath.Abs(dir) // one database however the directory is named
	if err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	prefix := partitionPrefix(table, partition)
	registry.mu.Lock()
	defer registry.mu.Unlock()
	d := registry.dbs[path]
	if d == nil {
		db, err := pebble.Open(path, cfg.pebbleOptions())
		if err != nil {
			return nil, fmt.Errorf("tables: open %s: %w", path, err)
		}
		watch, err := newDirWatch(path)
		if err != nil {
			return nil, errors.Join(err, db.Close())
		}
		d = &sharedDB{path: path, db: db, watch: watch, cfg: cfg, parts: map[string]bool{}}
		if err := migrate(d); err != nil {
			return nil, errors.Join(err, db.Close())
		}
		if registry.dbs == nil {
			registry.dbs = map[string]*sharedDB{}
		}
		registry.dbs[path] = d
	}
	if d.parts[string(prefix)] {
		return nil, fmt.Errorf("tables: %s: table %q partition %d: %w", path, table, partition, ErrOpen)
	}
	d.parts[string(prefix)] = true
	d.refs++
	logger := cfg.logger.With("topic", table, "partition", partition)
	s := newStore(path, d.db, prefix, cfg, logger, func() error { return d.release(prefix) })
	s.watch = d.watch
	return s, nil
}

// release closes the store of the partition with prefix, and the database
// with its last store.
func (d *sharedDB) release(prefix []byte) error {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	delete(d.parts, string(prefix))
	d.refs--
	if d.refs > 0 {
		return nil
	}
	delete(registry.dbs, d.path)
	return d.db.Close()
}
