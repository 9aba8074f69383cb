// Package topologytest runs the agents of a [topology.Graph] on goka's tester
// (package github.com/lovoo/goka/tester), an in-memory Kafka, for unit tests that
// need no broker, as net/http/httptest does for HTTP handlers.
//
//	h := topologytest.New(t, graph)
//	topologytest.Consume(h, clicks, "u1", Click{Page: "/"})
//	n, ok := topologytest.TableValue(h, counter.Table(), "u1")
//	out := topologytest.Output(h, counts)       // []topologytest.Record[int64]
//	dl := topologytest.DeadLetters(h, "counter") // with cause, error and attempts
//
// # Same runtime as Run
//
// [New] builds each agent's goka processor with the code [topology.Run] uses:
// decoding, retries, dead letters with their headers, and buffered effects (a
// failed handler call emits nothing and changes no state) behave in a test as
// they do on Kafka. Only the transport differs: the tester has one partition per
// topic, no broker, and processes each record synchronously, so [Consume] returns
// once every agent downstream of the record has handled it. Failed handler calls
// are retried without waiting, 0 times unless [Retries] says otherwise.
//
// # Feeding and reading
//
// [Consume] encodes a value with its stream's codec; [ConsumeRaw] feeds bytes as
// they are, for poison pills and tombstones (a nil value). [Output] and
// [DeadLetters] return what was written to a stream or an agent's dead-letter
// topic since their last call. [TableValue] reads an agent's state, or any table
// the graph's agents look up or join; [SetTable] sets a value in one, typically a
// table owned outside the graph (see [topology.ExternalTable]).
//
// # Time and timers
//
// The harness has a fake clock, which agents read with topology's
// Context.Now: it starts at [DefaultStart] (or [Clock]'s time) and moves only
// with [Advance], which fires every wall-clock timer that comes due, in time
// order, as the agent's timer handler ([topology.Agent.OnTimer]) runs on
// Kafka. Stream-time timers fire when a record fed [WithTime] moves the
// partition's stream time past them.
//
//	topologytest.Consume(h, orders, "o1", Order{Event: "open"}) // sets a timer a minute ahead
//	topologytest.Advance(h, time.Minute)                         // it fires
//
// Every function fails the test, through the [T] passed to [New], when it is used
// with a stream, table or agent the graph does not have.
package topologytest
