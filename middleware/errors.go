package middleware

import (
	"net/http"
	"strconv"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// WriteError is the one way an error reaches a client: it records the
// error's code on the request's Entry (for the access log, metrics and
// usage), logs a 5xx with its message (which says why, and holds no secret),
// and sends the error in the route's shape (the OpenAI envelope, or the
// Anthropic error object on the Messages routes; see ErrorShape) with its
// status. Headers already set on w (request id, Retry-After) are kept.
func WriteError(w http.ResponseWriter, r *http.Request, e *api.Error) {
	ctx := r.Context()
	entry := EntryFrom(ctx)
	entry.SetErrorCode(string(e.Code))
	if e.HTTPStatus() >= 500 {
		LoggerFrom(ctx).Warn().
			Int("status", e.HTTPStatus()).
			Str("error_code", string(e.Code)).
			Str("error", e.Message).
			Msg("request failed")
	}
	body := e.Body(entry.ErrorShape())
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.HTTPStatus())
	_, _ = w.Write(body)
}

// ErrorShape makes every error of the routes it wraps, from the middleware
// after it (auth, limits, body limit) and the handlers, answer in shape s.
// Install it before them.
func ErrorShape(s api.Shape) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			EntryFrom(r.Context()).SetErrorShape(s)
			next.ServeHTTP(w, r)
		})
	}
}
