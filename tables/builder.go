package tables

import (
	"github.com/lovoo/goka/storage"
)

// Builder returns a goka [storage.Builder] whose partitions all live in one
// Pebble database in dir, each under a key prefix of its own (table and
// partition), with opts. The database is opened with the first partition and
// closed with the last (see [Store.Close]): partitions cost their data, not a
// database each. A deleted directory is created again, empty, at the next
// open, and goka then recovers each partition from its changelog.
//
// A directory written by the per-partition layout of earlier versions (a
// Pebble directory per partition, dir/TOPIC.PARTITION) is read into the
// database when it opens, and the old directories removed; a partition that
// cannot be read is left to goka to recover from its changelog. One log line
// says which (see [WithLogger]).
//
// A revoked partition's keys stay in the database, so that its store opens
// with them if the partition comes back, and goka recovers only what it
// missed. Options are validated when a store is opened: an invalid one fails
// every build. A partition can be open once at a time ([ErrOpen]).
//
// Pass it to goka with goka.WithStorageBuilder (processors) or
// goka.WithViewStorageBuilder (views). Logs carry the topic and partition.
func Builder(dir string, opts ...Option) storage.Builder {
	cfg := newConfig(opts)
	return func(topic string, partition int32) (storage.Storage, error) {
		s, err := acquire(dir, topic, partition, cfg)
		if err != nil {
			return nil, err // not a nil *Store in a non-nil interface
		}
		return s, nil
	}
}
