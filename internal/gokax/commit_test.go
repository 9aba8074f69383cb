package gokax

import (
	"fmt"
	"slices"
	"testing"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// markLog is a consumer group session that records the offsets marked.
type markLog struct {
	sarama.ConsumerGroupSession
	marks []string
}

func (m *markLog) MarkOffset(topic string, partition int32, offset int64, _ string) {
	m.marks = append(m.marks, fmt.Sprintf("%s/%d@%d", topic, partition, offset))
}

// TestCommitSessionMarksInOrder pins that a mark passes only up to the first
// record of its partition that is not done, whatever order goka marks in, and
// that records never done (a failed write) hold every later mark back.
func TestCommitSessionMarksInOrder(t *testing.T) {
	log := new(markLog)
	s := &commitSession{ConsumerGroupSession: log, parts: map[topicPartition]*inflight{}}
	for _, o := range []int64{10, 11, 12, 20, 25} { // offsets may have gaps (compaction)
		s.started("in", 0, o)
	}
	s.started("in", 1, 5)
	s.started("other", 0, 7)

	for _, step := range []struct {
		mark int64 // goka marks a record by the offset after it
		want []string
	}{
		{12 + 1, nil},                 // 10 and 11 still in flight
		{11 + 1, nil},                 // 10 still in flight
		{10 + 1, []string{"in/0@13"}}, // 10, 11, 12 done
		{25 + 1, []string{"in/0@13"}}, // 20 still in flight
		{20 + 1, []string{"in/0@13", "in/0@26"}},
	} {
		s.MarkOffset("in", 0, step.mark, "")
		if !slices.Equal(log.marks, step.want) {
			t.Fatalf("after goka marked in/0@%d: marks %v, want %v", step.mark, log.marks, step.want)
		}
	}

	// A record never done holds back the partition's later ones, and only them.
	s.started("in", 0, 30)
	s.started("in", 0, 31)
	s.MarkOffset("in", 0, 32, "")
	s.MarkOffset("in", 1, 6, "")
	s.MarkOffset("nope", 0, 1, "") // never started: ignored
	want := []string{"in/0@13", "in/0@26", "in/1@6"}
	if !slices.Equal(log.marks, want) {
		t.Fatalf("marks %v, want %v: in/0@30 was never done", log.marks, want)
	}
}

// TestCommitSessionReportsMarks pins what OnMark learns: each mark passed on,
// in order, and nothing for records that are not done with all before them.
func TestCommitSessionReportsMarks(t *testing.T) {
	var got []string
	s := &commitSession{ConsumerGroupSession: new(markLog), parts: map[topicPartition]*inflight{},
		onMark: func(topic string, partition int32, next int64) {
			got = append(got, fmt.Sprintf("%s/%d@%d", topic, partition, next))
		}}
	for _, o := range []int64{3, 4, 5} {
		s.started("loop", 2, o)
	}
	s.MarkOffset("loop", 2, 5, "") // 4 done, 3 in flight
	if len(got) != 0 {
		t.Fatalf("OnMark got %v before record 3 was done, want nothing", got)
	}
	s.MarkOffset("loop", 2, 4, "")
	s.MarkOffset("loop", 2, 6, "")
	if want := []string{"loop/2@5", "loop/2@6"}; !slices.Equal(got, want) {
		t.Fatalf("OnMark got %v, want %v", got, want)
	}
}

// recordCtx is the goka.Context of a record as commits.started reads it.
type recordCtx struct {
	gokaContext // nil: a call to any other method panics
	partition   int32
	offset      int64
}

func (c recordCtx) Topic() goka.Stream { return "in" }
func (c recordCtx) Partition() int32   { return c.partition }
func (c recordCtx) Offset() int64      { return c.offset }

// countSession is a consumer group session that counts the marks passed on.
type countSession struct {
	sarama.ConsumerGroupSession
	n int
}

func (s *countSession) MarkOffset(string, int32, int64, string) { s.n++ }

// BenchmarkCommitRecord is the commit tracking of one record of an
// at-least-once processor on 8 partitions: its start (commits.started) as
// goka hands it to the callback, and its mark once its writes are
// acknowledged, 64 records of a partition in flight. The commit tracking
// took 10% of a counting agent's CPU; allocs/op must stay 0 (the slices'
// appends amortize; a channel made at every mark was one per record).
func BenchmarkCommitRecord(b *testing.B) {
	const parts, flying = 8, 64
	c := &commits{}
	s := newCommitSession(new(countSession), c) // as orderedHandler.Setup makes it
	c.cur.Store(s)
	rec := new(recordCtx)
	b.ReportAllocs()
	for i := range b.N + flying*parts {
		if i < b.N {
			rec.partition, rec.offset = int32(i%parts), int64(i/parts)
			c.started(rec)
		}
		if j := i - flying*parts; j >= 0 {
			s.MarkOffset("in", int32(j%parts), int64(j/parts)+1, "")
		}
	}
	if got := s.ConsumerGroupSession.(*countSession).n; got != b.N {
		b.Fatalf("%d marks passed on, want %d", got, b.N)
	}
}
