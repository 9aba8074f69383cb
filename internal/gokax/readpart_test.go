package gokax

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestReadPartition pins what a timer index restores from: every record of
// the partition to its end, tombstones as nil, other partitions left alone;
// read committed, the records of aborted transactions are skipped and the
// markers that end the log do not keep it waiting.
func TestReadPartition(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "t", 2, nil)

	read := func(partition int32, committed bool) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		var got []string
		err := ReadPartition(ctx, addrs, nil, "t", partition, committed, func(key string, value []byte, _ int64) {
			if value == nil {
				got = append(got, key+"=nil")
				return
			}
			got = append(got, key+"="+string(value))
		})
		if err != nil {
			t.Fatalf("ReadPartition(%d, committed %v): %v", partition, committed, err)
		}
		return got
	}
	if got := read(0, true); len(got) != 0 {
		t.Fatalf("empty partition: got %v, want nothing", got)
	}

	plain := kafkatest.Client(t, addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := plain.ProduceSync(t.Context(),
		&kgo.Record{Topic: "t", Key: []byte("a"), Value: []byte("1"), Partition: 0},
		&kgo.Record{Topic: "t", Key: []byte("b"), Value: []byte("2"), Partition: 1},
		&kgo.Record{Topic: "t", Key: []byte("a"), Partition: 0}, // tombstone
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got, want := read(0, false), []string{"a=1", "a=nil"}; !slices.Equal(got, want) {
		t.Fatalf("partition 0: got %v, want %v", got, want)
	}

	txn := func(key string, commit bool) {
		t.Helper()
		cl := kafkatest.Client(t, addrs, kgo.TransactionalID("tx-"+key), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "t", Key: []byte(key), Value: []byte("x"), Partition: 0}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(t.Context(), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn("c", true)
	txn("d", false) // the log now ends with an abort marker
	if got, want := read(0, true), []string{"a=1", "a=nil", "c=x"}; !slices.Equal(got, want) {
		t.Fatalf("partition 0 read committed: got %v, want %v", got, want)
	}
	if got, want := read(1, true), []string{"b=2"}; !slices.Equal(got, want) {
		t.Fatalf("partition 1: got %v, want %v", got, want)
	}
}
