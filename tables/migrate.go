package tables

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// migratedSuffix marks a copied store's directory while it is removed: the
// rename is atomic, so a crash amid the removal leaves a directory that is
// no store of the old layout, which the next open removes.
const migratedSuffix = ".migrated"

// migrateBatch is how many keys a migration copies per batch.
const migrateBatch = 1000

// migrate reads the stores of the per-partition layout in d's directory
// into d, each under its partition's prefix, and removes them. That layout,
// sluice's until it shared one database per directory, kept each partition
// in a Pebble directory of its own, dir/TOPIC.PARTITION, with its keys
// unprefixed and its offset under "__offset".
//
// A store is copied with its offset last, in the batch that ends the copy,
// and removed only after the copy is synced: a crash during the migration
// leaves the old directory, which the next open copies again from the start
// (the partition's range is cleared first), so nothing is lost and the
// offset never covers a missing key. A store that cannot be read (Pebble
// refuses it, or it is another store's directory) is removed: goka then
// recovers its partition from the changelog, the source of truth. migrate
// logs one line saying which partitions were read and which are left to the
// changelog, and why; nothing if there was nothing to migrate.
func migrate(d *sharedDB) error {
	olds, err := oldStores(d.path)
	if err != nil || len(olds) == 0 {
		return err
	}
	start := time.Now()
	var read, rebuilt, reasons []string
	var keys int
	for _, o := range olds {
		n, err := copyStore(d, o)
		if err != nil {
			rebuilt = append(rebuilt, o.name)
			reasons = append(reasons, o.name+": "+err.Error())
		} else {
			read = append(read, o.name)
			keys += n
		}
		old := filepath.Join(d.path, o.name)
		if err := os.Rename(old, old+migratedSuffix); err != nil {
			return fmt.Errorf("tables: remove migrated store %s: %w", o.name, err)
		}
		if err := os.RemoveAll(old + migratedSuffix); err != nil {
			return fmt.Errorf("tables: remove migrated store %s: %w", o.name, err)
		}
	}
	if len(rebuilt) == 0 {
		d.cfg.logger.Info("tables: read the stores of the per-partition layout into one database",
			"dir", d.path, "partitions", len(read), "keys", keys, "took", time.Since(start).Round(time.Millisecond))
	} else {
		d.cfg.logger.Info("tables: read some stores of the per-partition layout into one database; the others are rebuilt from their changelogs",
			"dir", d.path, "read", len(read), "keys", keys, "rebuilt_from_changelog", rebuilt, "took", time.Since(start).Round(time.Millisecond), "errors", reasons)
	}
	return nil
}

// oldStore is a partition directory of the per-partition layout.
type oldStore struct {
	name      string // TOPIC.PARTITION
	table     string
	partition int32
}

// oldStores returns the partition directories of the per-partition layout
// in dir: directories named TOPIC.PARTITION that hold a database (a LOCK
// file, as Pebble and LevelDB leave).
func oldStores(dir string) ([]oldStore, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tables: list %s: %w", dir, err)
	}
	var out []oldStore
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if strings.HasSuffix(e.Name(), migratedSuffix) {
			// Copied and synced before a crash stopped its removal.
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("tables: remove migrated store %s: %w", e.Name(), err)
			}
			continue
		}
		i := strings.LastIndexByte(e.Name(), '.')
		if i <= 0 {
			continue
		}
		p, err := strconv.ParseInt(e.Name()[i+1:], 10, 32)
		if err != nil || p < 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "LOCK")); err != nil {
			continue
		}
		out = append(out, oldStore{name: e.Name(), table: e.Name()[:i], partition: int32(p)})
	}
	return out, nil
}

// copyStore copies the keys of o into d under o's prefix, the offset last,
// syncs, and returns how many keys it copied (the offset not counted).
func copyStore(d *sharedDB, o oldStore) (n int, err error) {
	src, err := pebble.Open(filepath.Join(d.path, o.name), &pebble.Options{
		ReadOnly: true,
		Logger:   pebbleLogger{d.cfg.logger},
		FS:       vfs.Default,
	})
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, src.Close()) }()
	prefix := partitionPrefix(o.table, o.partition)
	b := d.db.NewBatch()
	defer func() { err = errors.Join(err, b.Close()) }()
	// A copy interrupted by a crash left keys without their offset: start over.
	if err := b.DeleteRange(prefix, prefixEnd(prefix), nil); err != nil {
		return 0, err
	}
	it, err := src.NewIter(nil)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	var offset []byte
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return n, err
		}
		if bytes.Equal(it.Key(), []byte(offsetName)) {
			offset = bytes.Clone(v)
			continue
		}
		if err := b.Set(append(bytes.Clone(prefix), it.Key()...), v, nil); err != nil {
			return n, err
		}
		n++
		if b.Count() >= migrateBatch {
			if err := b.Commit(pebble.NoSync); err != nil {
				return n, err
			}
			b.Reset()
		}
	}
	if err := it.Error(); err != nil {
		return n, err
	}
	if offset != nil {
		if err := b.Set(append(bytes.Clone(prefix), offsetName...), offset, nil); err != nil {
			return n, err
		}
	}
	// Synced: the old directory is removed next.
	return n, b.Commit(pebble.Sync)
}
