package tables

import (
	"fmt"
	"path/filepath"

	"github.com/lovoo/goka/storage"
)

// Builder returns a goka [storage.Builder] that opens one [Store] per table
// partition at filepath.Join(dir, topic+"."+partition), the layout of goka's
// storage.DefaultBuilder, with opts. A deleted partition directory is created
// again, empty, and goka then recovers the partition from its changelog.
// Options are validated when a store is opened: an invalid one fails every
// build.
//
// Pass it to goka with goka.WithStorageBuilder (processors) or
// goka.WithViewStorageBuilder (views). Logs carry the topic and partition.
func Builder(dir string, opts ...Option) storage.Builder {
	cfg := newConfig(opts)
	return func(topic string, partition int32) (storage.Storage, error) {
		path := filepath.Join(dir, fmt.Sprintf("%s.%d", topic, partition))
		s, err := open(path, cfg, "topic", topic, "partition", partition)
		if err != nil {
			return nil, err // not a nil *Store in a non-nil interface
		}
		return s, nil
	}
}
