// Package api holds the OpenAI wire contract that copilot-proxy owns: the error
// envelope, the one table that maps error codes to HTTP status and OpenAI error
// type, JSON writing, and the few request fields the gateway must read.
//
// It imports nothing of the project so every layer can use it.
package api

import (
	"encoding/json"
	"net/http"
)

// Code is a machine-readable error code, sent as error.code in the envelope.
type Code string

// Error codes emitted by the gateway. Each maps to one status and type in codes.
const (
	CodeInvalidRequest       Code = "invalid_request_error"
	CodeInvalidJSON          Code = "invalid_json"
	CodeMissingField         Code = "missing_required_parameter"
	CodeUnsupportedMediaType Code = "unsupported_media_type"
	CodeBodyTooLarge         Code = "request_too_large"
	CodeNotFound             Code = "not_found"
	CodeModelNotFound        Code = "model_not_found"
	CodeMethodNotAllowed     Code = "method_not_allowed"
	CodeInvalidAPIKey        Code = "invalid_api_key"
	CodeModelNotAllowed      Code = "model_not_allowed"
	CodeRateLimitExceeded    Code = "rate_limit_exceeded"
	CodeBudgetExceeded       Code = "budget_exceeded"
	CodeLimitsUnavailable    Code = "limits_unavailable"
	CodeUpstreamError        Code = "upstream_error"
	CodeCopilotUnavailable   Code = "copilot_unavailable"
	CodeUpstreamTimeout      Code = "upstream_timeout"
	CodeInternal             Code = "internal_error"
	CodeForbidden            Code = "forbidden"
	CodeConflict             Code = "conflict"
	CodeNotSupported         Code = "not_supported"
)

// OpenAI error types used in the envelope's "type" field.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeRateLimit      = "rate_limit_error"
	// TypeInsufficientQuota is OpenAI's type for spend that ran out; SDKs
	// and Codex show it as such rather than retrying.
	TypeInsufficientQuota = "insufficient_quota"
	TypeAPI               = "api_error"
	TypeServer            = "server_error"
)

type codeInfo struct {
	status int
	typ    string
}

// codes is the single table from error code to HTTP status and OpenAI type.
var codes = map[Code]codeInfo{
	CodeInvalidRequest:       {http.StatusBadRequest, TypeInvalidRequest},
	CodeInvalidJSON:          {http.StatusBadRequest, TypeInvalidRequest},
	CodeMissingField:         {http.StatusBadRequest, TypeInvalidRequest},
	CodeUnsupportedMediaType: {http.StatusUnsupportedMediaType, TypeInvalidRequest},
	CodeBodyTooLarge:         {http.StatusRequestEntityTooLarge, TypeInvalidRequest},
	CodeNotFound:             {http.StatusNotFound, TypeNotFound},
	CodeModelNotFound:        {http.StatusNotFound, TypeInvalidRequest},
	CodeMethodNotAllowed:     {http.StatusMethodNotAllowed, TypeInvalidRequest},
	CodeInvalidAPIKey:        {http.StatusUnauthorized, TypeAuthentication},
	CodeModelNotAllowed:      {http.StatusForbidden, TypePermission},
	CodeForbidden:            {http.StatusForbidden, TypePermission},
	CodeConflict:             {http.StatusConflict, TypeInvalidRequest},
	CodeNotSupported:         {http.StatusNotFound, TypeInvalidRequest},
	CodeRateLimitExceeded:    {http.StatusTooManyRequests, TypeRateLimit},
	CodeBudgetExceeded:       {http.StatusTooManyRequests, TypeInsufficientQuota},
	CodeLimitsUnavailable:    {http.StatusServiceUnavailable, TypeServer},
	CodeUpstreamError:        {http.StatusBadGateway, TypeAPI},
	CodeCopilotUnavailable:   {http.StatusServiceUnavailable, TypeServer},
	CodeUpstreamTimeout:      {http.StatusGatewayTimeout, TypeServer},
	CodeInternal:             {http.StatusInternalServerError, TypeServer},
}

// Status returns the HTTP status for a code (500 for an unknown code).
func (c Code) Status() int {
	if ci, ok := codes[c]; ok {
		return ci.status
	}
	return http.StatusInternalServerError
}

// Type returns the OpenAI error type for a code.
func (c Code) Type() string {
	if ci, ok := codes[c]; ok {
		return ci.typ
	}
	return TypeServer
}

// Error is a gateway error as sent to clients. The zero Status means
// "use the status of Code".
type Error struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    Code    `json:"code"`
}

// Error implements error.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// HTTPStatus is the status the error is sent with.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	return e.Code.Status()
}

// NewError builds an Error for code with a human-readable message.
func NewError(code Code, message string) *Error {
	return &Error{Message: message, Type: code.Type(), Code: code}
}

// WithParam returns e with its param field set (the request field at fault).
func (e *Error) WithParam(param string) *Error {
	e.Param = &param
	return e
}

// WithStatus returns e sent with an explicit status (upstream 4xx kept as is).
func (e *Error) WithStatus(status int) *Error {
	e.Status = status
	return e
}

// Envelope is the OpenAI error body: {"error":{...}}.
type Envelope struct {
	Error *Error `json:"error"`
}

// Envelope returns e in the OpenAI envelope, {"error":{...}}, as a
// response body (with a trailing newline).
func (e *Error) Envelope() []byte {
	if e.Type == "" {
		e.Type = e.Code.Type()
	}
	body, _ := json.Marshal(Envelope{Error: e})
	return append(body, '\n')
}

// Shape is the error body format of a route: the OpenAI envelope, or the
// Anthropic Messages API's error object.
type Shape uint8

// Error shapes.
const (
	ShapeOpenAI Shape = iota
	ShapeAnthropic
)

// Body returns e as a response body in shape s.
func (e *Error) Body(s Shape) []byte {
	if s == ShapeAnthropic {
		return e.AnthropicBody()
	}
	return e.Envelope()
}

// AnthropicType is the Anthropic error type for an HTTP status, as the
// Anthropic SDKs map them to typed errors.
func AnthropicType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == http.StatusServiceUnavailable || status == 529:
		return "overloaded_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

// AnthropicBody returns e as the Anthropic error object,
// {"type":"error","error":{"type":...,"message":...}}, with a trailing
// newline.
func (e *Error) AnthropicBody() []byte {
	body, _ := json.Marshal(anthropicError{Type: "error", Error: anthropicDetail{Type: AnthropicType(e.HTTPStatus()), Message: e.Message, Code: e.Code}})
	return append(body, '\n')
}

type anthropicError struct {
	Type  string          `json:"type"`
	Error anthropicDetail `json:"error"`
}

type anthropicDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	// Code is the gateway's machine code (budget_exceeded, ...): an
	// addition to Anthropic's shape, which its SDKs ignore.
	Code Code `json:"code,omitempty"`
}

// AnthropicErrorEvent is the `error` event that ends an Anthropic stream
// which failed after its headers were sent.
func AnthropicErrorEvent(e *Error) []byte {
	body := e.AnthropicBody()
	out := make([]byte, 0, len(body)+16)
	out = append(out, "event: error\ndata: "...)
	out = append(out, body[:len(body)-1]...)
	return append(out, "\n\n"...)
}

// ErrorEvent returns the SSE event that ends a stream which failed after its
// headers were sent: `data: {"error":{...}}` followed by a blank line.
func ErrorEvent(e *Error) []byte {
	if e.Type == "" {
		e.Type = e.Code.Type()
	}
	body, _ := json.Marshal(Envelope{Error: e})
	out := make([]byte, 0, len(body)+8)
	out = append(out, "data: "...)
	out = append(out, body...)
	out = append(out, "\n\n"...)
	return out
}
