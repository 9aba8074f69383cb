package tables

import "errors"

// ErrClosed is returned by every method of a [Store] called after
// [Store.Close]. An iterator whose store was closed while it was open stops:
// Next and Seek return false and Err returns ErrClosed. A second Close returns
// nil.
var ErrClosed = errors.New("tables: closed")

// ErrOpen is returned by a [Builder] for a partition whose store is open
// already: a partition has one writer, as a directory of its own would.
var ErrOpen = errors.New("tables: partition open already")
