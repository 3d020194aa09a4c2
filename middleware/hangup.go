package middleware

import "net"

// watchByReading calls onHangup when the client hangs up, by reading ahead
// (see clientConn); prefix is what the client sent that was read already.
// Bytes from the client (a pipelined request) end the watch without
// calling it, and are kept for the connection's next reader. It returns
// the connection to use from then on.
func watchByReading(conn net.Conn, prefix []byte, onHangup func()) (net.Conn, func()) {
	conn, c := wrapClient(conn)
	c.give(prefix)
	stop := c.watch(func(readable bool) {
		if !readable {
			onHangup()
		}
	})
	return conn, stop
}
