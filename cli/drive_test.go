package cli_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/topology"
)

// TestDrive runs testGraph on an embedded broker with a driver that sends a
// click once every agent has partitions and reads the count it causes, and
// drivers that fail or stop at each step.
func TestDrive(t *testing.T) {
	errBroker, errRun := errors.New("broker step failed"), errors.New("run step failed")
	for _, tc := range []struct {
		name      string
		brokerErr error
		ready     time.Duration
		run       func(ctx context.Context, addrs []string) error
		cancel    bool // Ctrl-C while run waits
		want      error
		wantRun   bool
	}{
		{name: "drives the pipeline", run: sendAndRead, wantRun: true},
		{name: "run fails", run: func(context.Context, []string) error { return errRun }, want: errRun, wantRun: true},
		{name: "broker step fails", brokerErr: errBroker, want: errBroker},
		{name: "agents not ready", ready: time.Nanosecond, want: cli.ErrNotReady},
		{name: "interrupted", cancel: true, wantRun: true, run: func(ctx context.Context, _ []string) error {
			<-ctx.Done()
			return ctx.Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var brokerAddrs []string
			ran := false
			d := cli.Driver{
				Broker: func(_ context.Context, addrs []string) error {
					brokerAddrs = addrs
					return tc.brokerErr
				},
				Ready: tc.ready,
				Run: func(ctx context.Context, addrs []string) error {
					ran = true
					if len(brokerAddrs) == 0 || addrs[0] != brokerAddrs[0] {
						t.Errorf("run got brokers %v before the broker step saw %v", addrs, brokerAddrs)
					}
					if tc.cancel {
						cancel()
					}
					return tc.run(ctx, addrs)
				},
			}
			err := cli.Drive(ctx, testGraph(), d, topology.EmbeddedListen("127.0.0.1:0"), topology.DataDir(t.TempDir()))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Drive: %v, want %v", err, tc.want)
			}
			if ran != tc.wantRun {
				t.Errorf("run called: %v, want %v", ran, tc.wantRun)
			}
		})
	}
}

// sendAndRead sends one click and waits for the count it causes: it can only
// arrive if the agents run while the driver does.
func sendAndRead(ctx context.Context, addrs []string) error {
	em, err := topology.NewEmitter(clicks, topology.Brokers(addrs...))
	if err != nil {
		return err
	}
	if err := errors.Join(em.Send("u1", click{Page: "/"}), em.Close()); err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(counts.Name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	fs := cl.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil {
		return err
	}
	if n := fs.NumRecords(); n != 1 {
		return errors.New("no count read")
	}
	return nil
}
