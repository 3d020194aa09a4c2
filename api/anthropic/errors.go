package anthropic

import "github.com/copilot-proxy/copilot-proxy/api"

// Error types of the Anthropic error object, as the Anthropic SDKs and
// Claude Code map them to typed errors.
const (
	ErrInvalidRequest = "invalid_request_error"
	ErrAuthentication = "authentication_error"
	ErrPermission     = "permission_error"
	ErrNotFound       = "not_found_error"
	ErrRateLimit      = "rate_limit_error"
	ErrAPI            = "api_error"
	ErrOverloaded     = "overloaded_error"
)

// ErrorType is the Anthropic error type for an HTTP status (one table, in
// api.AnthropicType): 401 authentication_error, 403 permission_error, 404
// not_found_error, 413 request_too_large, 429 rate_limit_error, 503 and 529
// overloaded_error, any other 5xx api_error, and every other status
// invalid_request_error.
func ErrorType(status int) string { return api.AnthropicType(status) }

// ErrorObject is the Anthropic error body:
// {"type":"error","error":{"type":...,"message":...}}.
type ErrorObject struct {
	Type  string      `json:"type"`
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner object of ErrorObject.
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ErrorBody is the Anthropic error object for an error type and message, as
// a response body (no trailing newline) or the data of an `error` event.
func ErrorBody(typ, message string) []byte {
	if typ == "" {
		typ = ErrAPI
	}
	b, _ := marshal(ErrorObject{Type: "error", Error: ErrorDetail{Type: typ, Message: message}})
	return b
}
