// Package lint holds tests that keep sluice's architecture honest: the import
// graph flows one way (cmd, examples, benchmarks -> processors -> topology ->
// tables), and goka and kfake each enter through one door.
package lint
