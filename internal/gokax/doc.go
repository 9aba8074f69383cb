// Package gokax is sluice's only door to goka's any-typed API.
//
// Everything above it is typed; goka underneath works on []byte values through a
// bytes codec, so a value goka hands over can never fail to decode inside goka (its
// processor would stop on it) and sluice decodes, and dead-letters, by itself.
//
// # Defaults
//
// [Config] returns the sarama configuration sluice runs goka with. It replaces goka's
// 2017-era defaults, each change documented at the field it sets, and is passed to
// goka through explicit builders: goka's global config is never touched. Every
// client those builders make is franz-go's, configured from it (kgo_config.go):
// goka sees sarama's interfaces, and no sarama client runs.
//
// # Groups
//
// A [Group] is an untyped processor-group definition: input topics with callbacks
// over [Msg], output topics, a state table, lookups and joins. [Processor] turns it
// into a goka processor and runs it once; supervision lives above this package.
// A processor runs at least once, or exactly once in Kafka transactions when
// [Options.ExactlyOnce] is set (the only switch: views follow it too, reading
// committed records); mode.go holds what differs between the modes.
//
// # Table cache
//
// A processor's tables sit behind a write-behind cache (cache.go) once they have
// recovered: writes stay in memory and reach the storage every thousand changelog
// acknowledgements, each key once and the offset last; the changelog remains the
// source of truth for whatever a crash loses.
package gokax
