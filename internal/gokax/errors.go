package gokax

import "errors"

var (
	// ErrUndeclared is returned by [Msg.Emit], [Msg.Lookup] and [Msg.Join] for a topic
	// the group did not declare; goka would panic.
	ErrUndeclared = errors.New("gokax: topic not declared by the group")
	// ErrStateless is returned by the state methods of [Msg] in a group without a table.
	ErrStateless = errors.New("gokax: group has no table")
)

// errViewStopped is the error of a lookup view that returned while its
// processor ran.
var errViewStopped = errors.New("gokax: view stopped")
