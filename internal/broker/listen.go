package broker

import (
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
)

// listen opens the broker's listener on addr, so that a bad address or a
// busy port is reported by Start rather than deep inside kfake, which only
// ever listens on 127.0.0.1 with the port it is given.
func listen(addr string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadListen, addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("%w %q: port must be a number in 0-65535", ErrBadListen, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen on %q: %w", addr, err)
	}
	return ln, nil
}

// listenOnce returns a kfake ListenFn that hands out ln on the first call,
// for the broker Start asks kfake for, and listens as kfake would on later
// calls, for nodes added with Cluster().AddNode.
func listenOnce(ln net.Listener) func(network, address string) (net.Listener, error) {
	var used atomic.Bool
	return func(network, address string) (net.Listener, error) {
		if used.Swap(true) {
			return net.Listen(network, address)
		}
		return ln, nil
	}
}
