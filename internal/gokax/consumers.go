package gokax

import (
	"errors"
	"io"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// consumers tracks the table consumers and topic managers goka builds for a
// processor or a view, so that they can be closed when it stops. goka's View
// (also the one a processor creates for each lookup table) never closes
// either: without this, every run of a processor with lookups leaked two
// clients with their broker connections and goroutines, and each restart by
// the supervisor leaked two more. Closing one twice does nothing.
type consumers struct {
	mu    sync.Mutex
	list  []io.Closer
	watch *fetchWatch // of the table consumers' fetches; nil: none
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

// closeAll closes everything tracked, once, and returns the errors of those that
// failed. sarama.ErrClosedClient (what goka closed itself, had it been
// sarama's) is not an error here.
func (c *consumers) closeAll() error {
	c.mu.Lock()
	list := c.list
	c.list = nil
	c.mu.Unlock()
	var errs []error
	for _, sc := range list {
		if err := sc.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
