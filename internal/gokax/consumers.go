package gokax

import (
	"io"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// consumers tracks the sarama consumers and topic managers goka builds for a
// processor, so that they can be closed when it stops. goka's View (which a
// processor creates for each lookup table) never closes either: without this,
// every run of a processor with lookups leaked two sarama clients with their
// broker connections and goroutines, and each restart by the supervisor leaked
// two more.
type consumers struct {
	mu   sync.Mutex
	list []io.Closer
}

func (c *consumers) trackManager(tm goka.TopicManager, err error) (goka.TopicManager, error) {
	if err == nil {
		c.mu.Lock()
		c.list = append(c.list, tm)
		c.mu.Unlock()
	}
	return tm, err
}

func (c *consumers) track(sc sarama.Consumer, err error) (sarama.Consumer, error) {
	if err == nil {
		c.mu.Lock()
		c.list = append(c.list, sc)
		c.mu.Unlock()
	}
	return sc, err
}

// closeAll closes everything tracked. What goka closed itself answers
// sarama.ErrClosedClient, which is ignored.
func (c *consumers) closeAll() {
	c.mu.Lock()
	list := c.list
	c.list = nil
	c.mu.Unlock()
	for _, sc := range list {
		_ = sc.Close() // nil, or ErrClosedClient for one goka closed
	}
}
