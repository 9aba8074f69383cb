package broker

import "errors"

// Errors returned by [Start] for a configuration it cannot run. A listener
// that cannot be opened (for example, a port in use) comes back wrapping the
// operating system's error, so errors.Is(err, syscall.EADDRINUSE) reports a
// busy port.
var (
	// ErrBadListen means the [Listen] address is not a "host:port" with a
	// numeric port in 0-65535.
	ErrBadListen = errors.New("broker: bad listen address")

	// ErrBadCleanerInterval means the [CleanerInterval] is below 1 ms.
	ErrBadCleanerInterval = errors.New("broker: cleaner interval below 1ms")
)
