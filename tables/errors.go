package tables

import "errors"

// ErrClosed is returned by every method of a [Store] called after
// [Store.Close]. An iterator whose store was closed while it was open stops:
// Next and Seek return false and Err returns ErrClosed. A second Close returns
// nil.
var ErrClosed = errors.New("tables: closed")
