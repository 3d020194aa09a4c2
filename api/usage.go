package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Usage is the token count of a completion, as OpenAI's chat completions
// report it. It also decodes the usage of the Responses and Anthropic
// Messages APIs (input_tokens, output_tokens), so one reader accounts all
// three.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
	// CachedTokens is the part of PromptTokens read from the prompt cache
	// (priced lower): prompt_tokens_details.cached_tokens,
	// input_tokens_details.cached_tokens or Anthropic's
	// cache_read_input_tokens.
	CachedTokens int64 `json:"cached_tokens,omitempty"`
}

// UnmarshalJSON reads either naming: prompt_tokens/completion_tokens or
// input_tokens/output_tokens (an answer has one of the two). Anthropic's
// input_tokens leave out the prompt read from or written to its cache
// (cache_read_input_tokens, cache_creation_input_tokens): they are prompt
// tokens too, and added.
//
// It is a hand-written walk (this runs on every answer) that reads exactly
// what encoding/json would decode into a struct of those fields: keys
// matched without regard to case, the last one winning, integers only, null
// leaving a count alone and clearing a details object; anything else is an
// error. usage_ref_test.go holds it to that reading.
func (u *Usage) UnmarshalJSON(b []byte) error {
	var r usageReader
	valid, isObject := WalkObject(b, r.member)
	switch {
	case !valid:
		return errUsageSyntax
	case !isObject && !isNull(bytes.TrimSpace(b)):
		return errUsageType
	case r.err != nil:
		return r.err
	}
	*u = r.usage()
	return nil
}

var (
	errUsageSyntax = errors.New("usage: invalid JSON")
	errUsageType   = errors.New("usage: not an object of integer counts")
)

// The fields of a usage object, in usageReader.counts order.
var usageFields = [...]string{"prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens",
	"cache_read_input_tokens", "cache_creation_input_tokens", "cached_tokens"}

const (
	uPrompt = iota
	uCompletion
	uTotal
	uInput
	uOutput
	uCacheRead
	uCacheCreation
	uCached
)

// usageReader collects a usage object's members.
type usageReader struct {
	counts        [len(usageFields)]int64
	promptDetails int64 // cached_tokens of prompt_tokens_details
	inputDetails  int64 // cached_tokens of input_tokens_details
	err           error
}

func (r *usageReader) member(m Member) {
	for i, f := range usageFields {
		if m.KeyEqualFold(f) {
			r.count(&r.counts[i], m.Value)
			return
		}
	}
	switch {
	case m.KeyEqualFold("prompt_tokens_details"):
		r.details(&r.promptDetails, m.Value)
	case m.KeyEqualFold("input_tokens_details"):
		r.details(&r.inputDetails, m.Value)
	}
}

// count stores an integer value; null leaves it.
func (r *usageReader) count(dst *int64, v []byte) {
	if isNull(v) {
		return
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		r.err = errUsageType
		return
	}
	*dst = n
}

// details reads a *_tokens_details object's cached_tokens into dst; null
// clears it (encoding/json sets the pointer to nil), and a repeated object
// keeps what an earlier one set (encoding/json decodes into the same one).
func (r *usageReader) details(dst *int64, v []byte) {
	switch {
	case isNull(v):
		*dst = 0
	case v[0] != '{':
		r.err = errUsageType
	default:
		WalkObject(v, func(m Member) {
			if m.KeyEqualFold("cached_tokens") {
				r.count(dst, m.Value)
			}
		})
	}
}

func (r *usageReader) usage() Usage {
	c := r.counts
	return Usage{
		PromptTokens:     c[uPrompt] + c[uInput] + c[uCacheRead] + c[uCacheCreation],
		CompletionTokens: c[uCompletion] + c[uOutput],
		TotalTokens:      c[uTotal],
		CachedTokens:     c[uCacheRead] + c[uCached] + r.promptDetails + r.inputDetails,
	}
}

var usageKey = []byte(`"usage"`)

// ChunkUsage reads the usage object from the JSON of one stream chunk (the
// data of an SSE event) or of a whole non-stream response. ok is false when
// the chunk has no usage, a null usage, or is not JSON. It assumes nothing
// else about the chunk (Copilot chunks may have empty or no choices).
//
// Most chunks carry no usage or "usage":null, so the chunk is only decoded
// when a "usage" key is followed by an object.
func ChunkUsage(data []byte) (Usage, bool) {
	if !hasUsageObject(data) {
		return Usage{}, false
	}
	// As encoding/json decodes the chunk into struct{ Usage *Usage }: the
	// last "usage" (in any letter case) wins, null clears it, and a bad one
	// anywhere fails the whole chunk.
	var last Usage
	found, failed := false, false
	valid, isObject := WalkObject(data, func(m Member) {
		switch {
		case !m.KeyEqualFold("usage"):
		case isNull(m.Value):
			found = false
		case last.UnmarshalJSON(m.Value) != nil:
			failed = true
		default:
			found = true
		}
	})
	if !valid || !isObject || failed || !found {
		return Usage{}, false
	}
	return last.clamped(), true
}

// clamped drops negative counts: a broken upstream must not credit a key's
// token budget or subtract from its usage (found by FuzzUsage).
func (u Usage) clamped() Usage {
	u.PromptTokens, u.CompletionTokens, u.TotalTokens = max(u.PromptTokens, 0), max(u.CompletionTokens, 0), max(u.TotalTokens, 0)
	u.CachedTokens = min(max(u.CachedTokens, 0), u.PromptTokens)
	return u
}

// hasUsageObject reports whether some `"usage"` in data is a key whose value
// is an object. Inside JSON strings quotes are escaped, so an unescaped
// `"usage"` is a key or the string value "usage" (then no ':' follows).
func hasUsageObject(data []byte) bool {
	for {
		i := bytes.Index(data, usageKey)
		if i < 0 {
			return false
		}
		rest := skipSpace(data[i+len(usageKey):])
		if len(rest) > 0 && rest[0] == ':' {
			if rest = skipSpace(rest[1:]); len(rest) > 0 && rest[0] == '{' {
				return true
			}
		}
		data = data[i+len(usageKey):]
	}
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

var emptyChoices = []byte(`"choices":[]`)

// IsUsageOnlyChunk reports whether a stream chunk's data carries usage and
// no choices: the chunk the gateway asked for on the client's behalf and
// drops when the client did not ask for it. Copilot's first chunk also has
// empty choices but no usage, so it is never taken for one.
func IsUsageOnlyChunk(data []byte) bool {
	if !hasUsageObject(data) {
		return false
	}
	if bytes.Contains(data, emptyChoices) {
		return true
	}
	var w struct {
		Choices []json.RawMessage `json:"choices"`
	}
	return json.Unmarshal(data, &w) == nil && len(w.Choices) == 0
}

// TailUsage reads the usage object of a non-stream response from the last
// bytes of its body (usage comes after the choices), so a response of any
// size is accounted without being buffered. ok is false when the tail holds
// no complete usage object.
func TailUsage(tail []byte) (Usage, bool) {
	return tailUsage(tail, func(rest []byte) (u Usage, ok bool) {
		c := chatScan{b: rest}
		v, ok := c.value()
		return u, ok && u.UnmarshalJSON(v) == nil
	})
}

// tailUsage is TailUsage's search, from the end, for a "usage" key whose
// value is an object; decode reads the usage object at the start of rest
// (more bytes may follow it). usage_ref_test.go passes encoding/json's.
func tailUsage(tail []byte, decode func(rest []byte) (Usage, bool)) (Usage, bool) {
	for end := len(tail); end > 0; {
		i := bytes.LastIndex(tail[:end], usageKey)
		if i < 0 {
			return Usage{}, false
		}
		end = i
		rest := skipSpace(tail[i+len(usageKey):])
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = skipSpace(rest[1:])
		if len(rest) == 0 || rest[0] != '{' {
			continue
		}
		if u, ok := decode(rest); ok {
			return u.clamped(), true
		}
	}
	return Usage{}, false
}
