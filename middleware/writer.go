package middleware

import (
	"errors"
	"io"
	"net/http"
)

// StatusWriter is an http.ResponseWriter that records what was sent. Flush
// keeps working through it, and it implements Unwrap so
// http.NewResponseController reaches the real writer (SetWriteDeadline,
// Hijack, EnableFullDuplex).
type StatusWriter interface {
	http.ResponseWriter
	// Status returns the status code sent, or 0 while the response has not
	// started. A Write or Flush without WriteHeader counts as 200.
	Status() int
	// Started reports whether the response headers have been sent, i.e.
	// whether an error envelope can still replace the response.
	Started() bool
}

// Wrap returns w as a StatusWriter, wrapping it only if it is not one already,
// so stacked middlewares share one wrapper per request.
func Wrap(w http.ResponseWriter) StatusWriter {
	if sw, ok := w.(StatusWriter); ok {
		return sw
	}
	return &statusWriter{w: w}
}

// statusWriter is the one StatusWriter implementation. It is a plain struct so
// the access log can embed it in its per-request state (one allocation).
type statusWriter struct {
	w      http.ResponseWriter
	status int
	bytes  int64
}

var (
	_ StatusWriter  = (*statusWriter)(nil)
	_ http.Flusher  = (*statusWriter)(nil)
	_ io.ReaderFrom = (*statusWriter)(nil)
)

func (s *statusWriter) Header() http.Header { return s.w.Header() }

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		// 1xx (other than 101) are informational: the real response follows.
		if code >= 200 || code == http.StatusSwitchingProtocols {
			s.status = code
		}
	}
	s.w.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.w.Write(p)
	s.bytes += int64(n)
	return n, err
}

// ReadFrom passes through to the real writer's ReadFrom (net/http can then use
// sendfile/splice) and falls back to a plain copy.
func (s *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := s.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		// writerOnly hides ReadFrom so io.Copy does not recurse into it.
		n, err = io.Copy(writerOnly{s.w}, r)
	}
	s.bytes += n
	return n, err
}

// Flush sends buffered data to the client; it implements http.Flusher.
func (s *statusWriter) Flush() { _ = s.FlushError() }

// FlushError flushes through the chain of wrappers and reports failure, the
// way http.ResponseController.Flush does.
func (s *statusWriter) FlushError() error {
	err := http.NewResponseController(s.w).Flush()
	if s.status == 0 && !errors.Is(err, http.ErrNotSupported) {
		// Flushing commits the headers with an implicit 200.
		s.status = http.StatusOK
	}
	return err
}

// Unwrap returns the wrapped writer for http.ResponseController.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.w }

func (s *statusWriter) Status() int   { return s.status }
func (s *statusWriter) Started() bool { return s.status != 0 }

type writerOnly struct{ io.Writer }
