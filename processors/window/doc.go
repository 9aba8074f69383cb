// Package window aggregates streams over event-time windows: tumbling, hopping,
// sliding and session windows; count, sum, avg, min and max; with a grace
// period for late records, final results, state that expires as windows close,
// and, for keys that fall silent, windows that close by the wall clock.
//
// # Agent
//
// [New] turns a [Config] into a [topology.Agent]: it reads Config.Input, puts
// each record in the windows of its key that contain the record's timestamp
// (the Kafka record timestamp, [topology.Context.Timestamp]), and emits a
// [Result] per updated window to Config.Output under the key. Config.Value
// extracts the number to aggregate. The agent's state per key is a [State] in
// its Pebble table, so windows survive restarts and moves through the table's
// changelog like any agent state.
//
// # Stream time is per key
//
// A window accepts records until the stream time passes its end plus
// Config.Grace. Kafka Streams keeps one stream time per partition: the largest
// timestamp seen on it. Here each key has its own, the largest timestamp of
// that key's records, kept in the key's State. goka gives a handler the state
// of the record's key only, and per-key time makes results depend on nothing
// but the key's own records: not on how keys share partitions, on the partition
// count, or on how producers of different keys interleave. Property tests
// therefore compare the agent with a brute-force model record by record, and a
// restart or rebalance cannot change an outcome.
//
// The consequence for grace: lateness is measured against the key's own
// history. A record is late only if a later record of the same key has already
// moved that key's stream time past its window's end plus Grace; a slow
// producer for one key never makes another key's records late, as it does
// with per-partition time. In turn a key's windows close, emit their final
// result and leave the state only when that key's next record arrives: a key
// that falls silent keeps its last windows open (its state holds the windows
// open at its last record, a bounded amount) and gets no final result until it
// speaks again, unless Config.Idle closes them by the wall clock (see Idle
// keys).
//
// # Sessions
//
// [Session] windows group a key's records that come less than Config.Gap
// apart: a session [s, e] spans its first and last record and is reported as
// [s, e+1ms). A record less than Gap from one or more open sessions joins
// them, merging them into one session whose result supersedes theirs (its
// Start is the earliest). A session closes when the key's stream time reaches
// e+Gap+Grace; a record is late if the session it would join has closed by
// then. Their state holds one aggregate per open session.
//
// # Idle keys
//
// With Config.Idle, a key whose records stop keeps its stream time moving
// with the wall clock, Idle behind it: a timer of the agent's (see
// topology.Agent.OnTimer, durable in Kafka like the state) fires when the
// wall-clock time since the key's last record, less Idle, would have moved
// its stream time to the close of its next window, and closes the windows due
// then, with their final results, as a record at that time would. A record
// of the key starts the count again from its own time. Without Idle, the
// default, only records move stream time.
//
// # Late records
//
// A record is late if the first window containing it (the one ending first)
// has closed. It is counted in [Metrics.Late] and sent to Config.Late as a
// [LateRecord] with its timestamp and the key's stream time; it is never
// dropped silently. For overlapping windows (hopping, sliding) a late record
// still counts in those of its windows that are open.
//
// # Expiry
//
// A tumbling or hopping window leaves the key's State when it closes (after
// its final result, with Config.EmitFinal). A sliding aggregation keeps the
// key's records while a window that is open, or that a later record could
// open, contains them: those of the last Size+Grace of stream time. The state
// of a key is thus bounded by its records in one Size+Grace.
//
// # Results
//
// Each record emits a [Result] for every window it updated, in window order
// (unless Config.FinalOnly); with Config.EmitFinal each window also emits one
// Result with Final set when it closes. A window that never received a record
// emits nothing. Delivery is at least once: a record replayed after a crash
// counts again, as in Kafka Streams' at_least_once mode.
//
// # Usage
//
//	agent, err := window.New(window.Config[Txn]{
//		Name:        "txn-amount-1h",
//		Input:       txns,
//		Value:       func(t Txn) float64 { return t.Amount },
//		Kind:        window.Hopping,
//		Size:        time.Hour,
//		Advance:     5 * time.Minute,
//		Grace:       time.Minute,
//		Aggregation: window.Avg,
//		Output:      topology.Stream[window.Result]{Name: "txn-amount-1h", Codec: topology.JSON[window.Result]()},
//		Late:        topology.Stream[window.LateRecord[Txn]]{Name: "txn-late", Codec: topology.JSON[window.LateRecord[Txn]]()},
//		EmitFinal:   true,
//	})
package window
