package observe

import "errors"

// ErrNoBroker is returned when no broker answers at the addresses given;
// the error names them.
var ErrNoBroker = errors.New("observe: no broker answers")

// ErrUnknownTable is returned by a lookup in a table the graph does not have.
var ErrUnknownTable = errors.New("observe: unknown table")

// ErrBadView is returned by [NewServer] for a [View] it cannot mount.
var ErrBadView = errors.New("observe: bad view")

// ErrNotFound is returned by a lookup of a key the table has no value for.
var ErrNotFound = errors.New("observe: key not found")

// ErrBadGraph is returned for a nil graph.
var ErrBadGraph = errors.New("observe: cannot read the graph")
