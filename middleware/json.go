package middleware

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// WriteJSON answers v as JSON with status, beside WriteError the one writer
// of JSON answers: Content-Type and Content-Length set, a newline after the
// value. A value that cannot be encoded (a bug) is a 500 through WriteError.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		WriteError(w, r, api.NewError(api.CodeInternal, "could not encode the response"))
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
