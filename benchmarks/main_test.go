package benchmarks

import (
	"os"
	"testing"

	"github.com/sluicehq/sluice/internal/kafkareal"
)

// TestMain stops the Apache Kafka cluster the short tests share after them.
func TestMain(m *testing.M) { os.Exit(kafkareal.Main(m).Run()) }
