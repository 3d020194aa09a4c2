package middleware

import (
	"net/http"
	"strconv"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// WriteError is the one way an error reaches a client: it records the
// error's code on the request's Entry (for the access log, metrics and
// usage), logs a 5xx with its message (which says why, and holds no secret),
// and sends the error in the API's envelope with its status. Headers already
// set on w (request id, Retry-After) are kept.
func WriteError(w http.ResponseWriter, r *http.Request, e *api.Error) {
	ctx := r.Context()
	EntryFrom(ctx).SetErrorCode(string(e.Code))
	if e.HTTPStatus() >= 500 {
		LoggerFrom(ctx).Warn().
			Int("status", e.HTTPStatus()).
			Str("error_code", string(e.Code)).
			Str("error", e.Message).
			Msg("request failed")
	}
	body := e.Envelope()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.HTTPStatus())
	_, _ = w.Write(body)
}
