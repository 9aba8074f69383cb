package gokax

import (
	"sync"

	"github.com/lovoo/goka/storage"
)

// changelogAcks connects a processor's producer to the cached storage of its
// own table: each changelog record the producer writes, or fails to write for
// good, is reported to the partition's [cachedStorage], which keeps the
// record's write out of local storage until then. Safe for concurrent use:
// partitions open and close while the producer reports.
type changelogAcks struct {
	table string // the processor's table topic

	mu    sync.Mutex
	parts map[int32]*cachedStorage
}

func newChangelogAcks(table string) *changelogAcks {
	return &changelogAcks{table: table, parts: map[int32]*cachedStorage{}}
}

// storage wraps b with a write-behind cache per partition; the partitions of
// the processor's own table wait for their writes' acknowledgements (see
// [cachedStorage]).
func (a *changelogAcks) storage(b storage.Builder) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := b(topic, partition)
		if err != nil {
			return nil, err
		}
		c := newCachedStorage(st)
		if topic != a.table {
			return c, nil
		}
		c.acks = true
		c.release = func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.parts[partition] == c {
				delete(a.parts, partition)
			}
		}
		a.mu.Lock()
		a.parts[partition] = c
		a.mu.Unlock()
		return c, nil
	}
}

// done reports the outcome of a write of key to topic's partition. A key
// maps to one partition, so a write franz-go failed before it chose the
// partition (partition then 0) reaches no other key's write; its processor
// stops and drops what waits.
func (a *changelogAcks) done(topic, key string, partition int32, err error) {
	if a == nil || topic != a.table {
		return
	}
	a.mu.Lock()
	c := a.parts[partition]
	a.mu.Unlock()
	if c != nil {
		c.acked(key, err)
	}
}
