// Package proctest holds helpers for tests that run a main package as a
// process, as a user would: [Main] builds the binary once for the package's
// tests and checks for leaked goroutines after them, and [Buffer] collects a
// process's or a command's output while the test reads it. Import it only
// from _test.go files.
//
// # Usage
//
//	var binary string // "" in -short mode
//
//	func TestMain(m *testing.M) {
//		flag.Parse()
//		os.Exit(proctest.Main(m, &binary))
//	}
package proctest
