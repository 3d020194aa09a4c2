//go:build !linux

package middleware

import "net"

// hangups watches the connections of detached responses for the client's
// hang-up, with a reading goroutine each (Linux uses one epoll set).
type hangups struct{}

func (h *hangups) watch(conn net.Conn, onHangup func()) (stop func(), polled bool) {
	return watchByReading(conn, onHangup), false
}

// park is not available: connections of detached responses close at their
// end.
func (h *hangups) park(net.Conn, func(readable bool)) (stop func(), ok bool) {
	return nil, false
}

func (h *hangups) close() {}
