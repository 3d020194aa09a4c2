package middleware

import (
	"net/http"
	"strconv"
	"time"
)

// The writer of a detachable response: net/http's until the response is
// detached, then the HTTP/1.1 chunked body written on the connection.

func (s *detachState) Header() http.Header { return s.header }

func (s *detachState) WriteHeader(code int) {
	if s.conn == nil {
		s.touched = true
		s.w.WriteHeader(code)
		return
	}
	if s.status == 0 && code >= 200 {
		s.status = code
	}
}

func (s *detachState) Write(p []byte) (int, error) {
	if s.conn == nil {
		s.touched = true
		return s.w.Write(p)
	}
	if s.werr != nil {
		return 0, s.werr
	}
	if len(p) == 0 {
		return 0, nil // an empty chunk would end the body
	}
	if err := s.send(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// send writes, in one write, the head if it has not gone yet, then p as a
// chunk (none for an empty p), then the last chunk if last. The bytes are
// assembled in a pooled buffer: a stream waits long between its events and
// would otherwise hold one each.
func (s *detachState) send(p []byte, last bool) error {
	bp := s.d.bufs.Get().(*[]byte)
	b := s.appendHead((*bp)[:0])
	if len(p) > 0 {
		b = strconv.AppendInt(b, int64(len(p)), 16)
		b = append(b, "\r\n"...)
		b = append(b, p...)
		b = append(b, "\r\n"...)
	}
	if last {
		b = append(b, "0\r\n\r\n"...)
	}
	_, err := s.conn.Write(b)
	if cap(b) <= maxPooledBuf {
		*bp = b[:0]
		s.d.bufs.Put(bp)
	}
	if err != nil {
		s.werr = err
	}
	return err
}

// maxPooledBuf bounds the buffers send keeps for reuse; a larger event's
// goes to the collector.
const maxPooledBuf = 4 << 10

// FlushError sends the head if it has not gone yet; the body's writes are
// not buffered once detached.
func (s *detachState) FlushError() error {
	if s.conn == nil {
		s.touched = true
		return http.NewResponseController(s.w).Flush()
	}
	if s.werr != nil || s.headSent {
		return s.werr
	}
	return s.send(nil, false)
}

// Unwrap gives http.ResponseController net/http's writer until the
// response is detached (after, there is none: this is the writer).
func (s *detachState) Unwrap() http.ResponseWriter {
	if s.conn == nil {
		return s.w
	}
	return nil
}

// SetWriteDeadline sets the connection's write deadline (through net/http
// until detached).
func (s *detachState) SetWriteDeadline(t time.Time) error {
	if s.conn == nil {
		return http.NewResponseController(s.w).SetWriteDeadline(t)
	}
	return s.conn.SetWriteDeadline(t)
}

// appendHead appends the response head to b the first time: the status
// line, the handler's headers with net/http's Date, chunked encoding and,
// unless the connection goes back to the server, its close.
func (s *detachState) appendHead(b []byte) []byte {
	if s.headSent {
		return b
	}
	s.headSent = true
	status := s.status
	if status == 0 {
		status = http.StatusOK
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\n"...)
	if _, ok := s.header["Date"]; !ok {
		b = append(b, "Date: "...)
		b = s.d.now().UTC().AppendFormat(b, http.TimeFormat)
		b = append(b, "\r\n"...)
	}
	hw := appendWriter{b: b}
	_ = s.header.WriteSubset(&hw, framingHeaders)
	b = append(hw.b, "Transfer-Encoding: chunked\r\n"...)
	if s.keepAlive && (status == http.StatusNoContent || status == http.StatusNotModified || !s.d.mayRejoin()) {
		// A bodiless status cannot carry the chunked body written here, and
		// a draining server keeps no connection: say so, and close.
		s.keepAlive = false
	}
	if !s.keepAlive {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

// framingHeaders are the headers the detached writer sets itself.
var framingHeaders = map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Trailer": true}

// appendWriter is an io.Writer appending to a byte slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
