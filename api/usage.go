package api

import (
	"bytes"
	"encoding/json"
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

type cachedDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

// UnmarshalJSON reads either naming: prompt_tokens/completion_tokens or
// input_tokens/output_tokens (an answer has one of the two). Anthropic's
// input_tokens leave out the prompt read from or written to its cache
// (cache_read_input_tokens, cache_creation_input_tokens): they are prompt
// tokens too, and added.
func (u *Usage) UnmarshalJSON(b []byte) error {
	var w struct {
		PromptTokens     int64          `json:"prompt_tokens"`
		CompletionTokens int64          `json:"completion_tokens"`
		TotalTokens      int64          `json:"total_tokens"`
		InputTokens      int64          `json:"input_tokens"`
		OutputTokens     int64          `json:"output_tokens"`
		CacheRead        int64          `json:"cache_read_input_tokens"`
		CacheCreation    int64          `json:"cache_creation_input_tokens"`
		PromptDetails    *cachedDetails `json:"prompt_tokens_details"`
		InputDetails     *cachedDetails `json:"input_tokens_details"`
		CachedTokens     int64          `json:"cached_tokens"` // the gateway's own form
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	cached := w.CacheRead + w.CachedTokens
	for _, d := range []*cachedDetails{w.PromptDetails, w.InputDetails} {
		if d != nil {
			cached += d.CachedTokens
		}
	}
	*u = Usage{
		PromptTokens:     w.PromptTokens + w.InputTokens + w.CacheRead + w.CacheCreation,
		CompletionTokens: w.CompletionTokens + w.OutputTokens,
		TotalTokens:      w.TotalTokens,
		CachedTokens:     cached,
	}
	return nil
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
	var w struct {
		Usage *Usage `json:"usage"`
	}
	if err := json.Unmarshal(data, &w); err != nil || w.Usage == nil {
		return Usage{}, false
	}
	return w.Usage.clamped(), true
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
		var u Usage
		if err := json.NewDecoder(bytes.NewReader(rest)).Decode(&u); err == nil {
			return u.clamped(), true
		}
	}
	return Usage{}, false
}
