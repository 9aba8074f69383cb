// Package lint holds tests that keep sluice's architecture honest: the import
// graph flows one way (cmd, examples, benchmarks -> processors -> topology ->
// tables), goka and kfake each enter through one door, and DESIGN.md's file
// map and diagram match the tree.
package lint
