// Package kafkatest holds helpers for tests that run against sluice's
// embedded broker. Import it only from _test.go files.
//
// # Helpers
//
// Every helper takes the test's testing.TB first, fails the test with
// t.Fatal on an error, and closes what it opens in t.Cleanup or before it
// returns. Helpers that wait stop at a deadline and at the end of the test's
// context, so a test that expects a record that never comes fails instead of
// hanging.
//
// # Conformance
//
// [EachBroker] runs a test on the embedded broker and on Apache Kafka (the
// test package's 3-node cluster of internal/kafkareal, started once; the
// package's TestMain wraps its testing.M with kafkareal.Main). The test
// names its topics and agents through [Broker.Name], as the cluster is
// shared:
//
//	kafkatest.EachBroker(t, func(t *testing.T, b *kafkatest.Broker) {
//		in := topology.Stream[string]{Name: b.Name("in"), Codec: topology.String()}
//		...
//	})
//
// # Usage
//
//	b := kafkatest.Start(t)
//	kafkatest.CreateTopic(t, b.Addrs(), "clicks", 2, nil)
//	kafkatest.Produce(t, b.Addrs(), "clicks", &kgo.Record{Key: []byte("u1"), Value: []byte("/")})
//	recs := kafkatest.ConsumeN(t, b.Addrs(), "clicks", 1)
package kafkatest
