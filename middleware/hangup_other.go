//go:build !linux

package middleware

import "net"

// hangups watches the connections of detached responses for the client's
// hang-up, with a reading goroutine each (Linux uses one epoll set).
type hangups struct{}

func (h *hangups) watch(conn net.Conn, onHangup func()) (stop func()) {
	return watchByReading(conn, onHangup)
}

func (h *hangups) close() {}
