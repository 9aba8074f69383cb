package gokax

import (
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
)

// kpartition is one partition of a [kconsumer] as goka reads it.
type kpartition struct {
	c    *kconsumer
	tp   topicPartition
	msgs chan *sarama.ConsumerMessage
	errs chan *sarama.ConsumerError
	quit chan struct{} // closed at close: the backlog's goroutine stops
	hwm  atomic.Int64

	mu struct {
		sync.Mutex
		closed   bool
		backlog  []*sarama.ConsumerMessage // what the channel had no room for
		draining bool                      // a goroutine hands the backlog over; the partition is paused
		paused   bool                      // by goka
	}
	draining  sync.WaitGroup
	closeOnce sync.Once
}

// deliver queues msgs on the channel; what does not fit waits in the
// backlog, and the partition pauses until it went.
func (pc *kpartition) deliver(msgs []*sarama.ConsumerMessage) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.mu.closed {
		return
	}
	if pc.mu.draining {
		pc.mu.backlog = append(pc.mu.backlog, msgs...)
		return
	}
	for i, m := range msgs {
		select {
		case pc.msgs <- m:
			continue
		default:
		}
		pc.mu.backlog = append(pc.mu.backlog, msgs[i:]...)
		pc.mu.draining = true
		pc.c.cl.PauseFetchPartitions(map[string][]int32{pc.tp.topic: {pc.tp.partition}})
		pc.draining.Go(pc.drain)
		return
	}
}

// drain hands the backlog over, then resumes the partition.
func (pc *kpartition) drain() {
	for {
		pc.mu.Lock()
		if pc.mu.closed {
			pc.mu.Unlock()
			return
		}
		if len(pc.mu.backlog) == 0 {
			pc.mu.backlog, pc.mu.draining = nil, false
			if !pc.mu.paused {
				pc.c.cl.ResumeFetchPartitions(map[string][]int32{pc.tp.topic: {pc.tp.partition}})
			}
			pc.mu.Unlock()
			return
		}
		m := pc.mu.backlog[0]
		pc.mu.backlog[0] = nil
		pc.mu.backlog = pc.mu.backlog[1:]
		pc.mu.Unlock()
		select {
		case pc.msgs <- m:
		case <-pc.quit:
			return
		}
	}
}

// fail reports err on the errors channel, unless one is waiting there.
func (pc *kpartition) fail(err error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.mu.closed {
		return
	}
	select {
	case pc.errs <- &sarama.ConsumerError{Topic: pc.tp.topic, Partition: pc.tp.partition, Err: err}:
	default:
	}
}

// AsyncClose stops the partition: its channels close at once (what they
// hold can still be read), and the consumer stops fetching it.
func (pc *kpartition) AsyncClose() {
	pc.closeOnce.Do(func() {
		pc.mu.Lock()
		pc.mu.closed = true
		pc.mu.backlog = nil
		pc.mu.Unlock()
		close(pc.quit)
		pc.draining.Wait()
		close(pc.msgs)
		close(pc.errs)
		pc.c.closed(pc)
	})
}

// Close is AsyncClose, then drains the channels and returns the errors
// that were waiting.
func (pc *kpartition) Close() error {
	pc.AsyncClose()
	for range pc.msgs {
	}
	var errs sarama.ConsumerErrors
	for err := range pc.errs {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func (pc *kpartition) Messages() <-chan *sarama.ConsumerMessage { return pc.msgs }
func (pc *kpartition) Errors() <-chan *sarama.ConsumerError     { return pc.errs }

// HighWaterMarkOffset returns the partition's high watermark as the last
// fetch said, 0 before the first (as sarama's; goka's statistics skip 0).
func (pc *kpartition) HighWaterMarkOffset() int64 { return pc.hwm.Load() }

func (pc *kpartition) Pause() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.mu.closed {
		return // paused after its removal, the next reader would get nothing
	}
	pc.mu.paused = true
	pc.c.cl.PauseFetchPartitions(map[string][]int32{pc.tp.topic: {pc.tp.partition}})
}

func (pc *kpartition) Resume() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.mu.paused = false
	if !pc.mu.draining && !pc.mu.closed {
		pc.c.cl.ResumeFetchPartitions(map[string][]int32{pc.tp.topic: {pc.tp.partition}})
	}
}

func (pc *kpartition) IsPaused() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.mu.paused
}
