package cli_test

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// TestLagCommand pins 'lag' against a broker: the kafka-consumer-groups-like
// header, and a row per partition of the agent's input with "-" for the
// offset it never committed, the records produced as its lag, and an age.
func TestLagCommand(t *testing.T) {
	t.Parallel()
	addrs := kafkatest.Start(t).Addrs()
	if _, err := topology.Provision(t.Context(), testGraph(), topology.Brokers(addrs...)); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 6 {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "user-%d", i), Value: []byte(`{"page":"/"}`)})
	}
	kafkatest.Produce(t, addrs, "clicks", recs...)

	stdout, stderr, code := run(t, "", nil, "lag", "--brokers", addrs[0])
	if code != 0 {
		t.Fatalf("lag: exit status %d, want 0; stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	header := regexp.MustCompile(`^GROUP +TOPIC +PARTITION +CURRENT-OFFSET +LOG-END-OFFSET +LAG +AGE$`)
	if len(lines) != 3 || !header.MatchString(lines[0]) {
		t.Fatalf("lag printed %d lines, want a header and 2 rows (one per partition):\n%s", len(lines), stdout)
	}
	row := regexp.MustCompile(`^counter +clicks +([01]) +- +(\d+) +(\d+) +(\S+)$`)
	total := 0
	for _, l := range lines[1:] {
		m := row.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("row %q does not match %s", l, row)
		}
		var end, lag int
		fmt.Sscan(m[2], &end)
		fmt.Sscan(m[3], &lag)
		if end != lag || (lag > 0) == (m[4] == "0s") || m[4] == "-" {
			t.Errorf("row %q: want lag = log end offset and an age above 0s exactly when lagging", l)
		}
		total += lag
	}
	if total != len(recs) {
		t.Errorf("total lag = %d, want %d:\n%s", total, len(recs), stdout)
	}

	if _, stderr, code := run(t, "", nil, "lag", "--brokers", addrs[0], "--agents", "nope"); code != 2 || !strings.Contains(stderr, `unknown agent "nope"`) {
		t.Errorf("lag --agents nope: exit status %d, want 2; stderr:\n%s", code, stderr)
	}
}

// freeAddr returns an address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestLagNoBroker pins that lag says plainly when no broker answers, and
// what to do: exit status 1 and one line.
func TestLagNoBroker(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	_, stderr, code := run(t, "", nil, "lag", "--brokers", addr)
	if code != 1 || !strings.Contains(stderr, "no broker answers at") || !strings.Contains(stderr, addr) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("lag --brokers %s: exit status %d, want 1 and one line naming the address; stderr:\n%s", addr, code, stderr)
	}

	t.Run("default address", func(t *testing.T) {
		if c, err := net.Dial("tcp", "127.0.0.1:9092"); err == nil {
			c.Close()
			t.Skip("something listens on 127.0.0.1:9092, the default: cannot check the message for nothing there")
		}
		_, stderr, code := run(t, "", nil, "lag")
		if code != 1 || !strings.Contains(stderr, "nothing listens on 127.0.0.1:9092") || !strings.Contains(stderr, "run' first") {
			t.Errorf("lag without --brokers and no broker: exit status %d, want 1 and a hint to start run; stderr:\n%s", code, stderr)
		}
	})
}
