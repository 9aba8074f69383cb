package tables_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: every
// store must stop its goroutines on Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// goleveldb (goka's LevelDB storage, in the conformance suite) leaves
		// this goroutine behind on Close, to wait up to a second for its
		// memory pool; it then exits.
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
	)
}
