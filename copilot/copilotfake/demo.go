package copilotfake

import (
	"encoding/json"
	"strings"
)

// WithAnswer makes the text of every generated answer on chat, /responses
// and /v1/messages text instead of DefaultChatContent: non-stream answers
// carry it whole, streams send it word by word, in at most SetStream's
// chunk count deltas (the words are grouped when there are more of them).
// Tool results at the end of the input are answered with text followed by
// " | tool output: " and their contents. Tool calls (see ToolTrigger)
// carry the smallest arguments valid for the called tool's schema instead
// of ToolCallArguments, so that real clients run them. "" keeps the
// default answers. It is what the gateway's demo command serves.
func WithAnswer(text string) Option {
	return func(c *config) { c.answer = text }
}

// PrefixedModelsJSON returns DefaultModelsJSON with prefix put before every
// model id (and namePrefix before every display name), so that every answer
// naming its model shows it came from this fake, e.g.
// PrefixedModelsJSON("demo-", "Demo ") lists demo-gpt-4o, "Demo GPT-4o".
func PrefixedModelsJSON(prefix, namePrefix string) string {
	var list struct {
		Object string           `json:"object"`
		Data   []map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(DefaultModelsJSON), &list); err != nil {
		panic("copilotfake: DefaultModelsJSON does not parse: " + err.Error())
	}
	for _, m := range list.Data {
		m["id"] = prefix + m["id"].(string)
		if name, ok := m["name"].(string); ok {
			m["name"] = namePrefix + name
		}
	}
	b, _ := json.Marshal(list)
	return string(b)
}

// ModelIDs returns the ids of a GET /models body, in order (nil when it
// does not parse).
func ModelIDs(modelsJSON string) []string {
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if json.Unmarshal([]byte(modelsJSON), &list) != nil {
		return nil
	}
	ids := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	return ids
}

// answerPieces is a WithAnswer text as at most n (at least 1) stream
// deltas: its words, each with the space that follows it, grouped evenly
// when there are more words than n.
func answerPieces(text string, n int) []string {
	var words []string
	for rest := text; rest != ""; {
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			words = append(words, rest)
			break
		}
		words = append(words, rest[:i+1])
		rest = rest[i+1:]
	}
	n = max(1, min(n, len(words)))
	size := (len(words) + n - 1) / n
	out := make([]string, 0, n)
	for len(words) > 0 {
		k := min(size, len(words))
		out = append(out, strings.Join(words[:k], ""))
		words = words[k:]
	}
	return out
}
