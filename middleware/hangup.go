package middleware

import "net"

// watchByReading calls onHangup when a read of conn fails: the client
// closed the connection or it broke. Bytes from the client (a pipelined
// request) end the watch without calling it. It costs a goroutine (a
// stack) for as long as the connection lives; stop only marks the watch
// ended, the goroutine returns when the connection is closed.
func watchByReading(conn net.Conn, onHangup func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		var b [1]byte
		if _, err := conn.Read(b[:]); err != nil {
			select {
			case <-done:
			default:
				onHangup()
			}
		}
	}()
	return func() { close(done) }
}
