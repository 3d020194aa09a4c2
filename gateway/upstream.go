package gateway

import (
	"context"
	"errors"
	"net/http"
)

// Upstream is what the gateway needs from the Copilot client (cmd adapts
// copilot.Client to it). Send returns the upstream response for call; the
// response body is closed by the gateway. ctx is the client's request
// context, so a client that leaves cancels the upstream call.
type Upstream interface {
	Send(ctx context.Context, call *Call) (*http.Response, error)
}

// Call is one request to the Copilot API.
type Call struct {
	Method, Path string // e.g. POST "/chat/completions", GET "/models", POST "/embeddings"
	Body         []byte // replayable bytes (the client's body, untouched); nil for GET
	Initiator    string // "user" | "agent" | "" (X-Initiator)
	Vision       bool   // a message has an image part (Copilot-Vision-Request)
	RequestID    string // the gateway's request id, for the upstream X-Request-Id or logs
	Stream       bool   // true when the response will be an SSE stream
}

// UpstreamFunc adapts a function to Upstream.
type UpstreamFunc func(ctx context.Context, call *Call) (*http.Response, error)

// Send calls f.
func (f UpstreamFunc) Send(ctx context.Context, call *Call) (*http.Response, error) {
	return f(ctx, call)
}

// ErrCopilotUnavailable classifies a Send error as "no valid Copilot token can
// be had" (bad GitHub token, no Copilot access, GitHub unreachable): clients
// get 503 copilot_unavailable with the reason. Wrap it with Unavailable, or
// with fmt.Errorf("%w: reason", ErrCopilotUnavailable).
//
// The other classes: an error with Timeout() true (errors.As) or
// context.DeadlineExceeded is 504 upstream_timeout; anything else is 502
// upstream_error; any error after the client left gets no answer. A read error
// with Timeout() true from a stream body is the stream idle timeout.
var ErrCopilotUnavailable = errors.New("copilot unavailable")

// Unavailable wraps reason (which must not contain a secret) so that
// errors.Is(err, ErrCopilotUnavailable) holds and the client message is
// "Copilot is unavailable: " + reason.Error().
func Unavailable(reason error) error {
	if reason == nil {
		reason = errors.New("no valid Copilot token")
	}
	return &unavailableError{reason: reason}
}

type unavailableError struct{ reason error }

func (e *unavailableError) Error() string {
	return ErrCopilotUnavailable.Error() + ": " + e.reason.Error()
}

// Unwrap exposes both the sentinel and the reason to errors.Is/As.
func (e *unavailableError) Unwrap() []error { return []error{ErrCopilotUnavailable, e.reason} }
