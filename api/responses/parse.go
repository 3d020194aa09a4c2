package responses

import (
	"bytes"
	"encoding/json"
	"errors"
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
	trimmed := bytes.TrimSpace(body)
	if e := objectStart(trimmed); e != nil {
		return nil, e
	}
	var req Request
	// One pass over the body: DecodeObject checks the syntax as it splits
	// the members (a syntax error wins over a member error), so the body
	// is not validated first as json.Unmarshal would.
	if err := req.UnmarshalJSON(trimmed); err != nil {
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

// objectStart refuses a trimmed body that is empty or does not start an
// object, with the error its validity calls for. An object's own syntax is
// left to the decoder's one pass.
func objectStart(trimmed []byte) *api.Error {
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return nil
	}
	return api.ObjectMembers(trimmed, nil)
}

// guardKeys refuses a case variant of a guarded field among the unknown
// members (DecodeObject matches exactly, so a variant lands there): the
// first variant in key order, so the answer does not depend on map order.
func guardKeys(extra map[string]json.RawMessage) *api.Error {
	first := ""
	for k := range extra {
		if guardedVariant(k) && (first == "" || k < first) {
			first = k
		}
	}
	return variantError(first)
}

// guardedVariant reports a key that differs from a guarded field only in
// letter case.
func guardedVariant(key string) bool {
	_, ok := variantOf(key)
	return ok
}

func variantOf(key string) (field string, ok bool) {
	for _, f := range guardedFields {
		if key != f && strings.EqualFold(key, f) {
			return f, true
		}
	}
	return "", false
}

// variantError is the 400 for key, a variant of a guarded field; nil when
// key is none.
func variantError(key string) *api.Error {
	f, ok := variantOf(key)
	if !ok {
		return nil
	}
	return api.NewError(api.CodeInvalidRequest, "The request body has the field \""+api.Clip(key, 40)+
		"\"; field names are case-sensitive: use \""+f+"\".").WithParam(f)
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
	model, stream, maxOut, input []byte
}

// PeekRequest reads and checks the fields the passthrough path needs:
// model (a non-empty string), stream, max_output_tokens and, from input,
// the last item's role and whether an image is present. Nothing else is
// decoded; the body is forwarded as sent. Failures are 400 *api.Error
// values, as ParseRequest's. It is one validating pass over the body
// (api.WalkObject) plus one over input, with no copy of either: Codex CLI
// sends 10–60 KB on every turn.
func PeekRequest(body []byte) (Peek, *api.Error) {
	var p Peek
	var w peekWire
	repeated, variant := "", ""
	e := api.ObjectMembers(body, func(m api.Member) {
		key := m.DecodedKey()
		var slot *[]byte
		switch string(key) {
		case "model":
			slot = &w.model
		case "stream":
			slot = &w.stream
		case "max_output_tokens":
			slot = &w.maxOut
		case "input":
			slot = &w.input
		default:
			if guardedVariant(string(key)) && (variant == "" || string(key) < variant) {
				variant = string(key)
			}
			return
		}
		if *slot != nil && repeated == "" {
			repeated = string(key)
		}
		*slot = m.Value
	})
	switch {
	case e != nil:
		return p, e
	case repeated != "":
		return p, api.NewError(api.CodeInvalidRequest, "The request body has the field \""+repeated+"\" more than once.").WithParam(repeated)
	}
	if e := variantError(variant); e != nil {
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

func peekInput(input []byte, p *Peek) *api.Error {
	if isAbsent(input) {
		return api.NewError(api.CodeMissingField, "Missing required parameter: 'input'.").WithParam("input")
	}
	if input[0] == '"' {
		p.LastRole = "user"
		return nil
	}
	last, ok := lastItem(input)
	if !ok {
		return api.NewError(api.CodeInvalidRequest, "\"input\" must be a string or an array of items.").WithParam("input")
	}
	if last.Type == "" || last.Type == ItemMessage {
		p.LastRole = last.Role
	}
	// Most bodies have no image: the byte search spares decoding parts.
	if bytes.Contains(input, inputImage) {
		var items []peekItem
		if json.Unmarshal(input, &items) == nil {
			p.HasImage = anyImage(items)
		}
	}
	return nil
}

// itemHead is the type and role of an input item.
type itemHead struct{ Type, Role string }

// lastItem reads input (an array, already validated) as encoding/json
// would decode it into []peekItem: each element an object or null, whose
// "type" and "role" (keys matched without regard to case, the last one
// winning) are strings or null. It returns the last element's head; ok is
// false where that decoding would fail.
func lastItem(input []byte) (last itemHead, ok bool) {
	ok = true
	_, isArray := api.WalkArray(input, func(el []byte) {
		last = itemHead{}
		switch {
		case !ok || isAbsent(el):
		case el[0] != '{':
			ok = false
		default:
			api.WalkObject(el, func(m api.Member) {
				var dst *string
				switch {
				case m.KeyEqualFold("type"):
					dst = &last.Type
				case m.KeyEqualFold("role"):
					dst = &last.Role
				default:
					return
				}
				if isAbsent(m.Value) {
					return
				}
				s, isString := api.JSONString(m.Value)
				ok = ok && isString
				*dst = s
			})
		}
	})
	return last, ok && isArray
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
