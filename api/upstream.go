package api

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on an upstream message carried to the client: enough for any real
// explanation, short enough that a runaway body cannot fill a response.
const (
	maxUpstreamTextMessage = 500
	maxUpstreamJSONMessage = 2000
)

// UpstreamError maps a non-2xx answer from Copilot to the error sent to the
// client. It is pure: the caller reads at most a bounded prefix of the body
// and copies Retry-After itself.
//
// Status: 429 and the other 4xx keep their status (the request itself was
// refused), except 401 and 403, which the Copilot client has already retried
// with a fresh token, so they are the gateway's failure: 502. 5xx and anything
// else become 502.
//
// Message: an OpenAI-shaped JSON body ({"error":{"message",...}} or
// {"message":...}) gives its message, and for a kept status also its type,
// code and param, so the client sees the upstream's own error, not JSON nested
// in a string; for a 502 the message is prefixed with "Copilot returned
// <status>: " and the code is upstream_error. A plain-text body is used
// trimmed and bounded ("Copilot returned 401: token expired"); an HTML, empty
// or unreadable body gives a clean generic message ("Copilot returned 502 Bad
// Gateway"). Anything that looks like a token is redacted.
func UpstreamError(status int, header http.Header, body []byte) *Error {
	kept := status >= 400 && status < 500 && status != http.StatusUnauthorized && status != http.StatusForbidden
	d, ok := parseUpstreamBody(header, body)

	var e *Error
	switch {
	case kept && ok && d.message != "":
		e = NewError(keptCode(status), d.message)
		if d.typ != "" {
			e.Type = d.typ
		}
		if d.code != "" {
			e.Code = Code(d.code)
		}
		if d.param != "" {
			e.WithParam(d.param)
		}
	case kept:
		e = NewError(keptCode(status), genericUpstreamMessage(status, header, d.text))
	case ok && d.message != "":
		e = NewError(CodeUpstreamError, "Copilot returned "+strconv.Itoa(status)+": "+d.message)
	default:
		e = NewError(CodeUpstreamError, genericUpstreamMessage(status, header, d.text))
	}
	if kept {
		return e.WithStatus(status)
	}
	return e.WithStatus(http.StatusBadGateway)
}

// keptCode is our code for an upstream 4xx whose status is passed on, used
// when the upstream body names none.
func keptCode(status int) Code {
	switch status {
	case http.StatusTooManyRequests:
		return CodeRateLimitExceeded
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusRequestEntityTooLarge:
		return CodeBodyTooLarge
	default:
		return CodeInvalidRequest
	}
}

// genericUpstreamMessage names the status, with the plain-text body when there
// is one, and the retry delay of a 429.
func genericUpstreamMessage(status int, header http.Header, text string) string {
	var msg string
	if text != "" {
		msg = "Copilot returned " + strconv.Itoa(status) + ": " + text
	} else {
		msg = strings.TrimSpace("Copilot returned " + strconv.Itoa(status) + " " + http.StatusText(status))
	}
	if status == http.StatusTooManyRequests {
		if ra := strings.TrimSpace(header.Get("Retry-After")); ra != "" && len(ra) <= 40 && isPrintableASCII(ra) {
			if _, err := strconv.Atoi(ra); err == nil {
				ra += "s"
			}
			msg += " (retry after " + ra + ")"
		}
	}
	return msg
}

// upstreamDetail is what could be read from an upstream error body: either
// the fields of an OpenAI-shaped error, or clean plain text.
type upstreamDetail struct {
	message, typ, code, param string
	text                      string
}

// parseUpstreamBody reads an error body; ok reports an OpenAI-shaped message.
func parseUpstreamBody(header http.Header, body []byte) (d upstreamDetail, ok bool) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || isHTML(header, b) || !utf8.Valid(b) {
		return d, false
	}
	if b[0] == '{' || b[0] == '[' {
		if json.Valid(b) {
			return parseUpstreamJSON(b)
		}
		// Truncated JSON reads as noise, not as a message.
		return d, false
	}
	d.text = Redact(Clip(collapseSpace(string(b)), maxUpstreamTextMessage))
	return d, false
}

func parseUpstreamJSON(b []byte) (d upstreamDetail, ok bool) {
	var top struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Detail  json.RawMessage `json:"detail"`
		Type    json.RawMessage `json:"type"`
		Code    json.RawMessage `json:"code"`
		Param   json.RawMessage `json:"param"`
	}
	if err := json.Unmarshal(b, &top); err != nil {
		return d, false
	}
	fields := top
	if len(top.Error) > 0 {
		if _, isStr := jsonText(top.Error); isStr {
			// {"error":"message"}
			fields.Message = top.Error
		} else {
			var inner struct {
				Message json.RawMessage `json:"message"`
				Type    json.RawMessage `json:"type"`
				Code    json.RawMessage `json:"code"`
				Param   json.RawMessage `json:"param"`
			}
			if json.Unmarshal(top.Error, &inner) == nil {
				fields.Message, fields.Type, fields.Code, fields.Param = inner.Message, inner.Type, inner.Code, inner.Param
			}
		}
	}
	msg, _ := jsonText(fields.Message)
	if msg == "" {
		msg, _ = jsonText(top.Detail)
	}
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return d, false
	}
	d.message = Redact(Clip(msg, maxUpstreamJSONMessage))
	d.typ = cleanToken(fields.Type)
	d.code = cleanToken(fields.Code)
	d.param = cleanToken(fields.Param)
	return d, true
}

// jsonText returns a JSON string's value, or a number's text; isStr is true
// only for a string.
func jsonText(raw json.RawMessage) (s string, isStr bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
		return "", false
	}
	if raw[0] == '-' || ('0' <= raw[0] && raw[0] <= '9') {
		return string(raw), false
	}
	return "", false
}

// cleanToken keeps a short identifier-like value (type, code, param) and
// drops anything else.
func cleanToken(raw json.RawMessage) string {
	s, _ := jsonText(raw)
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 100 || !isPrintableASCII(s) {
		return ""
	}
	return Redact(s)
}

func isHTML(header http.Header, b []byte) bool {
	if ct := header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
			return true
		}
	}
	return b[0] == '<'
}

// collapseSpace turns runs of whitespace and control characters into one
// space so a multi-line body reads as one message line.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// Clip bounds s to max bytes on a rune boundary, marking a cut with "…"
// (so a clipped text may be up to 3 bytes over max). Text from clients or
// the upstream is clipped before it reaches a message or a log line.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…" // a split last rune is dropped
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
