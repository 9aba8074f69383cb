package topology_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

func TestNewViewRejects(t *testing.T) {
	table := topology.Table[int64]{Name: "t-table", Codec: topology.Int64()}
	for _, tc := range []struct {
		name  string
		table topology.Table[int64]
		opts  []topology.Option
		want  error
	}{
		{"no name", topology.Table[int64]{Codec: topology.Int64()}, []topology.Option{topology.Brokers("x:1")}, topology.ErrNoName},
		{"no codec", topology.Table[int64]{Name: "t"}, []topology.Option{topology.Brokers("x:1")}, topology.ErrNoCodec},
		{"no brokers", table, nil, topology.ErrNoBrokers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := topology.NewView(tc.table, tc.opts...); !errors.Is(err, tc.want) {
				t.Fatalf("NewView = %v, want %v", err, tc.want)
			}
		})
	}
	v, err := topology.NewView(table, topology.Brokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Get("k"); !errors.Is(err, topology.ErrViewNotRunning) {
		t.Errorf("Get before Run = %v, want ErrViewNotRunning", err)
	}
	if v.Recovered() {
		t.Error("Recovered before Run = true")
	}
}

// TestView reads an agent's table through a View, on the embedded broker and
// on Apache Kafka: typed values, a missing key, a value the codec rejects,
// and Get after Run returned.
func TestView(t *testing.T) { kafkatest.EachBroker(t, testView) }

func testView(t *testing.T, b *kafkatest.Broker) {
	addrs := b.Addrs()
	g := counterGraphNamed(b.Name)
	dir := t.TempDir()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dir)}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatal(err)
	}
	produceKeys(t, addrs, b.Name(clicks.Name), 10, 3)
	running(t, g, opts...)
	table := topology.Table[int64]{Name: topology.TableName(b.Name("counter")), Codec: topology.Int64()}
	kafkatest.Produce(t, addrs, table.Name, &kgo.Record{Key: []byte("bad"), Value: []byte("not a number")})

	v, err := topology.NewView(table, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(t.Context(), time.Minute)
	defer wcancel()
	if err := v.WaitRecovered(wctx); err != nil {
		t.Fatalf("WaitRecovered: %v", err)
	}
	if err := v.Run(ctx); !errors.Is(err, topology.ErrViewRunning) {
		t.Errorf("second Run = %v, want ErrViewRunning", err)
	}
	kafkatest.WaitFor(t, time.Minute, func() bool {
		n, ok, err := v.Get("user-9")
		return err == nil && ok && n == 3
	})
	if n, ok, err := v.Get("nobody"); err != nil || ok {
		t.Errorf("Get(nobody) = %d, %t, %v, want not found", n, ok, err)
	}
	var de *topology.DecodeError
	if _, _, err := v.Get("bad"); !errors.As(err, &de) || de.Topic != table.Name {
		t.Errorf("Get(bad) = %v, want a DecodeError for %s", err, table.Name)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	if _, _, err := v.Get("user-9"); !errors.Is(err, topology.ErrViewNotRunning) {
		t.Errorf("Get after Run = %v, want ErrViewNotRunning", err)
	}

	// Run again: the view resumes from its local storage.
	ctx, cancel = context.WithCancel(t.Context())
	go func() { done <- v.Run(ctx) }()
	if err := v.WaitRecovered(wctx); err != nil {
		t.Fatalf("WaitRecovered after a second Run: %v", err)
	}
	if n, ok, err := v.Get("user-9"); err != nil || !ok || n != 3 {
		t.Errorf("Get(user-9) after a second Run = %d, %t, %v, want 3", n, ok, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("second Run = %v, want nil after cancel", err)
	}
}
