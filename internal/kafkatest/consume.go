package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ConsumeTimeout bounds how long [ConsumeN] and [ConsumeAll] wait for records.
const ConsumeTimeout = 10 * time.Second

// ConsumeN reads topic from the start of every partition until it has n
// records and returns them, in offset order within each partition. It fails
// t if n records do not arrive within [ConsumeTimeout], and if the fetches
// that brought them held more than n: ConsumeN expects exactly n, though it
// does not wait to see whether more arrive later.
func ConsumeN(t testing.TB, addrs []string, topic string, n int) []*kgo.Record {
	t.Helper()
	var got []*kgo.Record
	consume(t, addrs, topic,
		func(r *kgo.Record) { got = append(got, r) },
		func() bool { return len(got) >= n })
	if len(got) > n {
		t.Fatalf("consume %q: got %d records, want %d", topic, len(got), n)
	}
	return got
}

// ConsumeAll reads topic from the start of every partition up to the end
// offsets the partitions have when ConsumeAll is called, and returns those
// records in offset order within each partition. It reads to offsets, not to
// a count, so it suits compacted topics, whose offsets have gaps. It fails t
// if the ends are not reached within [ConsumeTimeout].
func ConsumeAll(t testing.TB, addrs []string, topic string) []*kgo.Record {
	t.Helper()
	adm := newClient(t, addrs)
	ends, err := kadm.NewClient(adm).ListEndOffsets(t.Context(), topic)
	if err == nil {
		err = ends.Error()
	}
	adm.Close()
	if err != nil {
		t.Fatalf("consume %q: list end offsets: %v", topic, err)
	}
	left := make(map[int32]int64) // partition -> end offset not yet reached
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	var got []*kgo.Record
	consume(t, addrs, topic,
		func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return // produced after the call
			}
			got = append(got, r)
			if r.Offset+1 == end {
				delete(left, r.Partition)
			}
		},
		func() bool { return len(left) == 0 })
	return got
}

// consume polls topic from the start, passing each record to each, until
// done reports true or ConsumeTimeout passes.
func consume(t testing.TB, addrs []string, topic string, each func(*kgo.Record), done func() bool) {
	t.Helper()
	cl := newClient(t, addrs,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), ConsumeTimeout)
	defer cancel()
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %q: %v before the records arrived", topic, ctx.Err())
		}
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume %q: %v", topic, err)
		}
		fs.EachRecord(each)
	}
}

// ReadCommitted reads topic from the start to the end offsets it has now as a
// read_committed consumer does, and returns its data records (in offset order
// within each partition) and the number of transaction markers it passed. It
// knows it reached an end by keeping the markers, which occupy offsets. It
// fails t if the ends are not reached within a minute.
func ReadCommitted(t testing.TB, addrs []string, topic string) (recs []*kgo.Record, markers int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ends, err := Admin(t, addrs).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	left := map[int32]int64{} // partition -> end offset not yet reached
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl := Client(t, addrs, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: %d partitions not at their end after a minute: %v", topic, len(left), left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Attrs.IsControl() {
				markers++
			} else {
				recs = append(recs, r)
			}
			if end, ok := left[r.Partition]; ok && r.Offset >= end-1 {
				delete(left, r.Partition)
			}
		})
	}
	return recs, markers
}
