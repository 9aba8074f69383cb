package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kickTimeout bounds the request kickCleaner sends to a broker on loopback.
const kickTimeout = 5 * time.Second

// kickCleaner makes kfake start its log cleaner for compacted topics loaded
// from a data dir. kfake starts the cleaner's ticker only when a topic is
// created or deleted or configs are altered, never after loading state, so
// a restarted broker would not clean its tables until then (see
// TestCleanerRunsAfterRestart). An IncrementalAlterConfigs request, even an
// empty one that changes nothing, makes kfake re-check; on a broker with no
// compacted topic it starts nothing.
func kickCleaner(addr string, opts []kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), kickTimeout)
	defer cancel()
	// Sent to node 0, the only one: sharding an empty request may send
	// nothing at all.
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	if _, err := cl.Broker(0).RetriableRequest(ctx, req); err != nil {
		return fmt.Errorf("start log cleaner: %w", err)
	}
	return nil
}
