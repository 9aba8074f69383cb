package gokax

import (
	"fmt"
	"strconv"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// txnProducer is the goka producer of a processor in exactly-once mode: it
// sends each write through the transactional producer of the input partition
// named by the write's [txnHeader], which it removes. A write without the
// header, or for a partition the session does not own, fails (and so stops
// the processor): it could not be part of any record's transaction.
type txnProducer struct {
	t *txns
}

func (p txnProducer) Emit(topic, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

func (p txnProducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	promise, finish := goka.NewPromiseWithFinisher()
	raw, ok := headers[txnHeader]
	part, err := strconv.ParseInt(string(raw), 10, 32)
	if !ok || err != nil {
		finish(nil, fmt.Errorf("write to %q outside a record's transaction: %w", topic, ErrTxn))
		return promise
	}
	tp := p.t.part(int32(part))
	if tp == nil {
		finish(nil, fmt.Errorf("write to %q for partition %d, which this instance does not own: %w", topic, part, ErrTxn))
		return promise
	}
	msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Metadata: finish}
	if value != nil {
		msg.Value = sarama.ByteEncoder(value)
	}
	for k, v := range headers {
		if k != txnHeader {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: v})
		}
	}
	tp.st.Lock()
	if tp.st.closed {
		tp.st.Unlock()
		finish(nil, fmt.Errorf("write to %q: transactional producer %q closed: %w", topic, tp.id, ErrTxn))
		return promise
	}
	tp.st.inHand++
	tp.st.Unlock()
	// Sent in the record's callback, before the transaction can commit: the
	// commit waits for the write's acknowledgement (inHand).
	tp.prod.Input() <- msg
	return promise
}

// Close does nothing: the transactional producers belong to the session and
// close with it.
func (p txnProducer) Close() error { return nil }

func (tp *txnPart) successes() {
	defer tp.read.Done()
	for msg := range tp.prod.Successes() {
		tp.settle(msg, nil)
	}
}

func (tp *txnPart) errors() {
	defer tp.read.Done()
	for perr := range tp.prod.Errors() {
		err := fmt.Errorf("transactional producer %q: write to %q: %w: %w", tp.id, perr.Msg.Topic, ErrTxn, perr.Err)
		tp.fail(err)
		tp.settle(perr.Msg, err)
	}
}

// settle finishes the promise of a write, then counts it as no longer in hand.
func (tp *txnPart) settle(msg *sarama.ProducerMessage, err error) {
	if finish, ok := msg.Metadata.(goka.PromiseFinisher); ok {
		finish(msg, err)
	}
	tp.st.Lock()
	tp.st.inHand--
	tp.changedLocked()
	tp.st.Unlock()
}
