// Package broker runs an embedded single-node Kafka-protocol broker, so that
// sluice's examples and tests need no Kafka installation. Outside tests it
// is the only package of sluice that runs kfake; internal/logadapt imports
// kfake only for its logger type.
//
// # Broker
//
// [Start] starts a [Broker] (franz-go's kfake) listening on loopback. It
// speaks the Kafka protocol to any client: kgo, kadm, sarama, goka. It has
// one node, so topics must be created with a replication factor of 1 (or -1,
// the broker's default); automatic topic creation is off, because sluice
// creates every topic it uses explicitly.
//
// # Persistence
//
// By default the broker keeps everything in memory. With [DataDir] it writes
// topics, records and committed group offsets to a directory and a broker
// started later on the same directory serves them again, after a
// [Broker.Close] or a crash of the process. Ports are not part of that
// state: clients that stay connected across a restart reconnect only if
// the new broker listens on the old address ([Listen]), which works right
// after Close.
//
// # Compaction
//
// Topics with cleanup.policy=compact are really compacted, every
// [CleanerInterval] (5 s by default, not kfake's 1 h) in which one took
// records (and at least every 10 minutes), or on [Broker.Compact]. As Kafka never cleans the active segment, kfake never
// cleans a partition's last produced batch: a key whose newest record is in
// that batch can still be read twice. As Kafka cleans only below the last
// stable offset, the broker compacts only while no partition of a compacted
// topic holds records of an open transaction (kfake's own cleaner, which it
// replaces, compacted past them); when one does, it holds new transactions
// on compacted topics for at most 500 ms while the open ones end.
//
// # Usage
//
//	b, err := broker.Start(broker.DataDir(dir), broker.Listen("127.0.0.1:9092"))
//	if err != nil {
//		return err
//	}
//	defer b.Close()
//	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
//
// Tests use internal/kafkatest, which runs a broker in t.TempDir().
package broker
