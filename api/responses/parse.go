package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// guardedFields are the fields the gateway acts on (allow-lists, stream
// handling, rate-limit reservations, headers): a key that differs from one
// only in letter case is refused, because encoding/json-style readers
// would take it for the field while Copilot, which reads keys exactly,
// would not.
var guardedFields = [...]string{"model", "stream", "input", "max_output_tokens"}

// ParseRequest decodes and validates a Responses body for the translated
// path. Failures are 400 *api.Error values naming the field: an empty or
// invalid body, one that is not an object, a missing or non-string model,
// a missing input or one that is neither a string nor an array of items, a
// guarded field spelled with other capitals or given twice, a value of the
// wrong shape.
func ParseRequest(body []byte) (*Request, *api.Error) {
	trimmed, e := objectBody(body)
	if e != nil {
		return nil, e
	}
	var req Request
	if err := json.Unmarshal(trimmed, &req); err != nil {
		return nil, decodeError(err)
	}
	if e := guardKeys(req.Extra); e != nil {
		return nil, e
	}
	if req.Model == "" {
		return nil, api.NewError(api.CodeMissingField, "you must provide a model parameter").WithParam("model")
	}
	if req.Input.IsZero() {
		return nil, api.NewError(api.CodeMissingField, "Missing required parameter: 'input'.").WithParam("input")
	}
	return &req, nil
}

// objectBody is the trimmed body when it is a valid JSON object.
func objectBody(body []byte) ([]byte, *api.Error) {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return nil, api.NewError(api.CodeInvalidJSON, "The request body is empty; expected a JSON object.")
	case !json.Valid(trimmed):
		return nil, api.NewError(api.CodeInvalidJSON, "The request body is not valid JSON.")
	case trimmed[0] != '{':
		return nil, api.NewError(api.CodeInvalidRequest, "The request body must be a JSON object.")
	}
	return trimmed, nil
}

// guardKeys refuses a case variant of a guarded field among the unknown
// members (DecodeObject matches exactly, so a variant lands there).
func guardKeys(extra map[string]json.RawMessage) *api.Error {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, f := range guardedFields {
			if strings.EqualFold(k, f) {
				return api.NewError(api.CodeInvalidRequest, "The request body has the field \""+api.Clip(k, 40)+
					"\"; field names are case-sensitive: use \""+f+"\".").WithParam(f)
			}
		}
	}
	return nil
}

// fieldShapes says what each field must be, for decoding errors.
var fieldShapes = map[string]string{
	"model": "a non-empty string", "stream": "a boolean", "input": "a string or an array of items",
	"max_output_tokens": "an integer", "instructions": "a string", "tools": "an array of tools",
	"include": "an array of strings", "metadata": "an object of strings", "store": "a boolean",
	"temperature": "a number", "top_p": "a number", "parallel_tool_calls": "a boolean",
}

// decodeError is the 400 for a DecodeObject error.
func decodeError(err error) *api.Error {
	var fe *openai.FieldError
	if !errors.As(err, &fe) {
		return api.NewError(api.CodeInvalidJSON, "The request body is not valid JSON.")
	}
	if fe.Repeated {
		return api.NewError(api.CodeInvalidRequest, "The request body has the field \""+fe.Field+"\" more than once.").WithParam(fe.Field)
	}
	if shape, ok := fieldShapes[fe.Field]; ok {
		return api.NewError(api.CodeInvalidRequest, "\""+fe.Field+"\" must be "+shape+".").WithParam(fe.Field)
	}
	return api.NewError(api.CodeInvalidRequest, "\""+fe.Field+"\" has the wrong shape: "+
		api.Clip(fe.Err.Error(), 200)+".").WithParam(fe.Field)
}

// Peek is what the passthrough path reads from a Responses body that it
// forwards untouched.
type Peek struct {
	Model  string
	Stream bool
	// MaxOutputTokens is max_output_tokens, 0 when absent (for rate-limit
	// reservations).
	MaxOutputTokens int64
	// LastRole is the role of the last input item when it is a message
	// ("user" for a string input), empty otherwise (a function call output).
	LastRole string
	// HasImage is true when an input message or function output has an
	// input_image part (Copilot-Vision-Request).
	HasImage bool
}

// Initiator is the X-Initiator value: "user" when the last input item is a
// user message, "agent" otherwise (a tool result continues an agent turn).
func (p Peek) Initiator() string {
	if p.LastRole == "user" {
		return "user"
	}
	return "agent"
}

type peekWire struct {
	model, stream, maxOut, input json.RawMessage
}

// PeekRequest reads and checks the fields the passthrough path needs:
// model (a non-empty string), stream, max_output_tokens and, from input,
// the last item's role and whether an image is present. Nothing else is
// decoded; the body is forwarded as sent. Failures are 400 *api.Error
// values, as ParseRequest's.
func PeekRequest(body []byte) (Peek, *api.Error) {
	var p Peek
	trimmed, e := objectBody(body)
	if e != nil {
		return p, e
	}
	var w peekWire
	var extra map[string]json.RawMessage
	fields := map[string]any{"model": &w.model, "stream": &w.stream, "max_output_tokens": &w.maxOut, "input": &w.input}
	if err := openai.DecodeObject(trimmed, fields, &extra); err != nil {
		return p, decodeError(err)
	}
	if e := guardKeys(extra); e != nil {
		return p, e
	}
	if e := w.scalars(&p); e != nil {
		return p, e
	}
	return p, peekInput(w.input, &p)
}

func isAbsent(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func (w *peekWire) scalars(p *Peek) *api.Error {
	if isAbsent(w.model) {
		return api.NewError(api.CodeMissingField, "you must provide a model parameter").WithParam("model")
	}
	if json.Unmarshal(w.model, &p.Model) != nil || p.Model == "" {
		return api.NewError(api.CodeInvalidRequest, "\"model\" must be a non-empty string.").WithParam("model")
	}
	if !isAbsent(w.stream) && json.Unmarshal(w.stream, &p.Stream) != nil {
		return api.NewError(api.CodeInvalidRequest, "\"stream\" must be a boolean.").WithParam("stream")
	}
	if !isAbsent(w.maxOut) && (json.Unmarshal(w.maxOut, &p.MaxOutputTokens) != nil || p.MaxOutputTokens < 0) {
		return api.NewError(api.CodeInvalidRequest, "\"max_output_tokens\" must be a non-negative integer.").WithParam("max_output_tokens")
	}
	return nil
}

type peekItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Output  json.RawMessage `json:"output"`
}

var inputImage = []byte(`"input_image"`)

func peekInput(input json.RawMessage, p *Peek) *api.Error {
	if isAbsent(input) {
		return api.NewError(api.CodeMissingField, "Missing required parameter: 'input'.").WithParam("input")
	}
	if input[0] == '"' {
		p.LastRole = "user"
		return nil
	}
	var items []peekItem
	if input[0] != '[' || json.Unmarshal(input, &items) != nil {
		return api.NewError(api.CodeInvalidRequest, "\"input\" must be a string or an array of items.").WithParam("input")
	}
	if n := len(items); n > 0 && (items[n-1].Type == "" || items[n-1].Type == ItemMessage) {
		p.LastRole = items[n-1].Role
	}
	// Most bodies have no image: the byte search spares decoding parts.
	if bytes.Contains(input, inputImage) {
		p.HasImage = anyImage(items)
	}
	return nil
}

func anyImage(items []peekItem) bool {
	for _, it := range items {
		for _, raw := range [...]json.RawMessage{it.Content, it.Output} {
			var parts []struct {
				Type string `json:"type"`
			}
			if len(raw) > 0 && raw[0] == '[' && json.Unmarshal(raw, &parts) == nil {
				for _, part := range parts {
					if part.Type == PartInputImage {
						return true
					}
				}
			}
		}
	}
	return false
}
