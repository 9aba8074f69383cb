// Package benchmarks holds sluice's performance workloads as library code,
// each run beside goka's default so that every figure has a baseline.
//
// # Workloads
//
// A workload is a config struct and functions that build and drive it; the
// benchmarks in the package's tests wrap them in testing.B, and other tools
// may drive them directly. Sub-benchmarks are named key=value for benchstat.
//
// # Storage
//
// [OpenStore] opens a table partition on one of [Stores]: "pebble" (package
// tables), "leveldb" (goka's default storage) or "memory" (goka's). Two
// workloads drive goka's storage.Storage interface exactly as goka does:
//
//   - [UpdateWorkload]: per message, Get a key's value, Set an 8-byte value
//     and SetOffset, on random keys of a recovered table
//     (BenchmarkStorageUpdate, in msgs/s).
//   - [Replay]: recovery from the changelog, Set and SetOffset per record and
//     then MarkRecovered (BenchmarkStorageRecovery, 1,000,000 records over
//     100,000 keys, in records/s).
//
// # Running
//
//	go test -run '^$' -bench Storage -benchtime 3x -count 5 ./benchmarks/ | tee new.txt
//	benchstat new.txt
//
// Setting up the memory store of BenchmarkStorageUpdate takes about 17 s:
// goka's memory storage sorts all its keys for each new key.
package benchmarks
