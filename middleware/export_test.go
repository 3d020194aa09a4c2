package middleware

import "context"

// Test-only helpers: what the tests of this package need from its insides.

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(secret string) (Principal, bool)

// Authenticate calls f(secret).
func (f AuthenticatorFunc) Authenticate(secret string) (Principal, bool) { return f(secret) }

// WithEntry returns ctx carrying a new Entry, for code that handles a request
// outside the router (tests, benchmarks).
func WithEntry(ctx context.Context) context.Context {
	return &entryCtx{Context: ctx}
}

// Stream returns the recorded stream flag.
func (e *Entry) Stream() bool { return e.stream }

// WithRequestID returns ctx carrying id as the request id, for tests and for
// entry points that do not go through RequestID.
func WithRequestID(ctx context.Context, id string) context.Context {
	return newIDCtx(ctx, id)
}

// BytesWritten returns the number of body bytes written so far.
func (s *statusWriter) BytesWritten() int64 { return s.bytes }
