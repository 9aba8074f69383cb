package topology_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

func TestZZScratch(t *testing.T) {
	rb := startRestartable(t)
	kafkatest.CreateTopic(t, rb.addrs(), events.Name, 4, nil)
	e, err := topology.NewEmitter(events, topology.Brokers(rb.addrs()...), topology.KafkaConfig(impatient()))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Emit(t.Context(), "k", "x"); err != nil {
		t.Fatal(err)
	}
	rb.stop()
	start := time.Now()
	for i := range 300 {
		e.Send("k", fmt.Sprint(i))
	}
	err = e.Flush(t.Context())
	t.Logf("flush after %v: %.80v", time.Since(start), err)
	start = time.Now()
	for i := range 300 {
		e.Send("k", fmt.Sprint(i))
	}
	err = e.Close()
	t.Logf("close after %v: %.80v", time.Since(start), err)
}
