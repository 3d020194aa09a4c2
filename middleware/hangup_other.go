//go:build !linux

package middleware

import "net"

// hangups watches the connections of detached responses for the client's
// hang-up, with a reading goroutine each (Linux uses one epoll set).
type hangups struct{}

// watch calls onHangup once when conn's peer hangs up, until stop is
// called (see watchByReading); it returns the connection to use from then
// on, whose next reads return prefix first.
func (h *hangups) watch(conn net.Conn, prefix []byte, onHangup func()) (net.Conn, func()) {
	return watchByReading(conn, prefix, onHangup)
}

func (h *hangups) close() {}
