package broker_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/broker"
)

// TestStartBadConfig pins that Start reports each bad configuration as an
// error naming it, not a panic or a broker on some other address.
func TestStartBadConfig(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	badState := t.TempDir()
	if err := os.WriteFile(filepath.Join(badState, "meta.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		opt  broker.Option
		want error // nil: any error will do
	}{
		{"listen without port", broker.Listen("127.0.0.1"), broker.ErrBadListen},
		{"listen with named port", broker.Listen("127.0.0.1:kafka"), broker.ErrBadListen},
		{"listen with port out of range", broker.Listen("127.0.0.1:65536"), broker.ErrBadListen},
		{"listen on port in use", broker.Listen(busy.Addr().String()), syscall.EADDRINUSE},
		{"zero cleaner interval", broker.CleanerInterval(0), broker.ErrBadCleanerInterval},
		{"sub-millisecond cleaner interval", broker.CleanerInterval(time.Microsecond), broker.ErrBadCleanerInterval},
		{"data dir is a file", broker.DataDir(notDir), nil},
		{"data dir with corrupt state", broker.DataDir(badState), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := broker.Start(tc.opt)
			if err == nil {
				b.Close()
				t.Fatalf("Start() = nil error, want %v", tc.want)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Start() = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestListenHonoursHost pins that the host of Listen is used, not replaced
// by kfake's fixed 127.0.0.1.
func TestListenHonoursHost(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("this OS does not route 127.0.0.2 to loopback: %v", err)
	}
	probe.Close()
	b := start(t, broker.Listen("127.0.0.2:0"))
	host, _, err := net.SplitHostPort(b.Addrs()[0])
	if err != nil || host != "127.0.0.2" {
		t.Fatalf("Addrs() = %v, want host 127.0.0.2", b.Addrs())
	}
}

// TestCloseTwiceAndAfterClose pins that Close is idempotent and that the
// methods that stay callable after Close return instead of blocking on the
// stopped kfake loop.
func TestCloseTwiceAndAfterClose(t *testing.T) {
	b, err := broker.Start(broker.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("first Close() = %v, want nil", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close() = %v, want nil", err)
	}
	b.Compact()
	if len(b.Addrs()) != 1 {
		t.Fatalf("Addrs() after Close = %v, want the one address", b.Addrs())
	}
}

// TestCloseReportsPersistError pins that Close returns kfake's failure to
// write the data dir, which kfake itself only logs. The dir is swapped for a
// file while the broker runs, so writing the state on Close must fail.
func TestCloseReportsPersistError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b, err := broker.Start(broker.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, dir+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err == nil {
		t.Fatal("Close() = nil, want the error writing the data dir")
	}
}
