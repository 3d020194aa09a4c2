package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// requestFields are the JSON names of Request's fields. A top-level key that
// equals one of them only when case is ignored is refused: encoding/json
// would read "Model" into Model while Copilot reads keys exactly, so the
// gateway and the upstream would see different requests (a model past the
// allow-list, or a "Stream" that changes the framing).
var requestFields = []string{
	"model", "max_tokens", "system", "messages", "tools", "tool_choice",
	"stop_sequences", "temperature", "top_p", "top_k", "thinking", "metadata",
	"stream", "output_config", "context_management", "service_tier",
}

// ParseRequest reads and validates a POST /v1/messages body. Every failure is
// a 400 api.Error whose message names the field at fault, in Anthropic's
// style ("messages.2.content.0.tool_use_id: Field required").
func ParseRequest(body []byte) (*Request, *api.Error) {
	return parse(body, true)
}

// ParseCountTokensRequest reads a POST /v1/messages/count_tokens body: the
// same shape as ParseRequest, with max_tokens optional.
func ParseCountTokensRequest(body []byte) (*Request, *api.Error) {
	return parse(body, false)
}

func parse(body []byte, needMaxTokens bool) (*Request, *api.Error) {
	top, e := topLevel(body)
	if e != nil {
		return nil, e
	}
	if e := checkScalars(top, needMaxTokens); e != nil {
		return nil, e
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, decodeError(err)
	}
	if e := validate(&req); e != nil {
		return nil, e
	}
	return &req, nil
}

// topLevel checks that body is one JSON object and returns its members by
// key (values are slices of body). As api.ParseChatRequest does, it refuses
// a field of Request given twice (the gateway and the upstream might not
// pick the same one) and a key that is one of them but for case.
func topLevel(body []byte) (map[string]json.RawMessage, *api.Error) {
	// One validating pass that also yields the members (Claude Code sends
	// 80 KB and more on every turn).
	top := make(map[string]json.RawMessage, 16)
	var e *api.Error
	bad := api.ObjectMembers(body, func(m api.Member) {
		key := m.KeyString()
		if _, seen := top[key]; seen && e == nil && slices.Contains(requestFields, key) {
			e = invalid(key, "Field given more than once")
		}
		top[key] = m.Value
		for _, f := range requestFields {
			if e == nil && key != f && strings.EqualFold(key, f) {
				e = invalid(key, fmt.Sprintf("Extra inputs are not permitted (did you mean %q?)", f))
			}
		}
	})
	switch {
	case bad != nil:
		return nil, bad
	case e != nil:
		return nil, e
	}
	return top, nil
}

// checkScalars checks the fields the gateway routes on before the whole
// body is decoded: model (a non-empty string), stream (a boolean) and
// max_tokens (a positive integer, required on /v1/messages).
func checkScalars(top map[string]json.RawMessage, needMaxTokens bool) *api.Error {
	model, ok := top["model"]
	if !ok || isNull(model) {
		return missing("model")
	}
	if s, ok := rawString(model); !ok || s == "" {
		return invalid("model", "Input should be a non-empty string")
	}
	if v, ok := top["stream"]; ok && !isNull(v) && string(v) != "true" && string(v) != "false" {
		return invalid("stream", "Input should be a valid boolean")
	}
	mt, ok := top["max_tokens"]
	if !ok || isNull(mt) {
		if needMaxTokens {
			return missing("max_tokens")
		}
		return nil
	}
	if n, err := strconv.ParseInt(string(mt), 10, 32); err != nil || n < 1 {
		return invalid("max_tokens", "Input should be an integer greater than or equal to 1")
	}
	return nil
}

// decodeError turns an encoding/json error on a syntactically valid body
// into a 400 naming the field.
func decodeError(err error) *api.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		if te.Type == contentType {
			return invalid(te.Field, "Input should be a string or a list of content blocks")
		}
		return invalid(te.Field, "Input should be a valid "+jsonKind(te.Type.Kind().String()))
	}
	return api.NewError(api.CodeInvalidRequest, "Invalid request body: "+err.Error())
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice":
		return "list"
	case "struct", "map":
		return "object"
	case "ptr", "interface":
		return "value"
	}
	return "number"
}

func missing(field string) *api.Error {
	return api.NewError(api.CodeMissingField, field+": Field required").WithParam(field)
}

func invalid(field, msg string) *api.Error {
	return api.NewError(api.CodeInvalidRequest, field+": "+msg).WithParam(field)
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// rawString decodes a JSON string value; ok is false for any other value.
func rawString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}
