package middleware

import (
	"errors"
	"net/http"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/bytesize"
)

// BodyLimit rejects a request whose Content-Length exceeds max with a 413
// envelope before reading anything, and wraps the body in
// http.MaxBytesReader so a chunked (or lying) body over the limit fails on
// read. A handler that gets a read error should check IsBodyTooLarge and
// answer with BodyTooLargeError(max).
func BodyLimit(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				WriteError(w, r, BodyTooLargeError(max))
				return
			}
			if r.Body != nil && r.Body != http.NoBody && !limitDetachable(r, max) {
				// MaxBytesReader tells the real net/http writer (through an
				// unexported method wrappers cannot forward) to close the
				// connection when the limit is hit, so hand it the innermost
				// writer.
				r.Body = http.MaxBytesReader(innermost(w), r.Body, max)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// IsBodyTooLarge reports whether err comes from reading a body past its
// BodyLimit.
func IsBodyTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// BodyTooLargeError is the 413 error BodyLimit sends, for handlers that hit
// the limit while reading.
func BodyTooLargeError(max int64) *api.Error {
	return api.NewError(api.CodeBodyTooLarge, "request body is larger than the "+bytesize.Size(max).Human()+" limit")
}

// innermost follows Unwrap to the writer net/http created.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}
