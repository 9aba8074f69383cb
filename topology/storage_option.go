package topology

import (
	"fmt"

	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/tables"
)

// DefaultStateMemory is the memory budget of a Run's (or a View's) tables
// unless [StateMemory] sets another.
const DefaultStateMemory = 128 << 20

// stateConfig is how agents' tables are stored: see [Storage] and
// [StateMemory].
type stateConfig struct {
	// memoryBytes is the budget; 0 means DefaultStateMemory.
	memoryBytes int64
	// memory is the budget the default storage shares while a Run or View
	// runs; nil outside.
	memory *tables.Memory
}

// storageFunc returns the goka storage builder for the partitions whose files
// live in dir.
type storageFunc = func(dir string) storage.Builder

// StateMemory sets the memory budget of the tables of a [Run] (or of a
// [View]) together, overriding the default [DefaultStateMemory] (128 MiB):
// the block cache and memtables of every agent's table store. Each agent
// keeps its tables (its own, and those it joins and looks up) in one Pebble
// database under DataDir/state/AGENT, whatever its partition count. Half the
// budget is a block cache shared by all of them; the other half is split
// among their memtables. Both fill as data comes: tables smaller than the
// budget take what they hold. See the README's section on sizing it.
//
// Run fails if bytes is under 4 MiB. It applies to the default storage
// only, not to one set with [Storage].
func StateMemory(bytes int64) Option {
	return option("StateMemory", forRun|forView, func(c *runConfig) { c.state.memoryBytes = bytes })
}

// openStateMemory makes the budget for databases databases that the
// default storage shares until the returned function is called.
func (c *runConfig) openStateMemory(databases int) (closeMemory func(), err error) {
	if c.storage != nil {
		return func() {}, nil
	}
	bytes := c.state.memoryBytes
	if bytes == 0 {
		bytes = DefaultStateMemory
	}
	m, err := tables.NewMemory(bytes, databases)
	if err != nil {
		return nil, fmt.Errorf("StateMemory(%d): %w", bytes, err)
	}
	c.state.memory = m
	return m.Close, nil
}

// Storage sets how agents' tables and views' copies are stored locally,
// overriding the default: Pebble through [tables.Builder], one database per
// agent (and per view) within the budget of [StateMemory]. b is called once per
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
	return option("Storage", forRun|forView, func(c *runConfig) {
		if b != nil {
			c.storage = b
		}
	})
}

// storageBuilder returns the storage builder for the partitions whose files
// live in dir.
func (c *runConfig) storageBuilder(dir string) storage.Builder {
	if c.storage == nil {
		opts := []tables.Option{tables.WithLogger(c.logger)}
		if c.state.memory != nil {
			opts = append(opts, tables.WithMemory(c.state.memory))
		}
		return tables.Builder(dir, opts...)
	}
	return c.storage(dir)
}
