package topology

import (
	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/tables"
)

// storageFunc returns the goka storage builder for the partitions whose files
// live in dir.
type storageFunc = func(dir string) storage.Builder

// Storage sets how agents' tables and views' copies are stored locally,
// overriding the default: Pebble through [tables.Builder]. b is called once per
// agent (and per view) with the directory under [DataDir] that is that
// agent's own, and returns the goka storage builder for its partitions; a
// directory is never shared, because two agents in one process may hold
// copies of the same table (its owner and a joiner).
//
// goka's LevelDB store, for comparison:
//
//	topology.Run(ctx, g, topology.Storage(storage.DefaultBuilder))
//
// and tables' Pebble store with non-default options:
//
//	topology.Storage(func(dir string) storage.Builder { return tables.Builder(dir, tables.CacheSize(256<<20)) })
//
// A nil b leaves the default.
func Storage(b func(dir string) storage.Builder) Option {
	return optionFunc(func(c *runConfig) {
		if b != nil {
			c.storage = b
		}
	})
}

// storageBuilder returns the storage builder for the partitions whose files
// live in dir.
func (c *runConfig) storageBuilder(dir string) storage.Builder {
	if c.storage == nil {
		return tables.Builder(dir)
	}
	return c.storage(dir)
}
