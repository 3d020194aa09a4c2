package anthropic

import (
	"bytes"
	"encoding/json"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

var (
	usageKey         = []byte(`"usage"`)
	messageStartType = []byte(`"message_start"`)
	messageDeltaType = []byte(`"message_delta"`)
)

// EventUsage reads the token counts of one event of a native Messages
// stream (its data): message_start carries the input and cache counts (and
// an early output count), message_delta the final output count and, from
// newer upstreams, the input counts again. ok is false for any other event.
// Most events are deltas of text, so the data is decoded only when it
// mentions "usage" and one of the two types. Fold the results with Merge.
func EventUsage(data []byte) (Usage, bool) {
	if !bytes.Contains(data, usageKey) {
		return Usage{}, false
	}
	var u *Usage
	switch {
	case bytes.Contains(data, messageStartType):
		var w struct {
			Type    string `json:"type"`
			Message struct {
				Usage *Usage `json:"usage"`
			} `json:"message"`
		}
		if json.Unmarshal(data, &w) != nil || w.Type != EventMessageStart {
			return Usage{}, false
		}
		u = w.Message.Usage
	case bytes.Contains(data, messageDeltaType):
		var w struct {
			Type  string `json:"type"`
			Usage *Usage `json:"usage"`
		}
		if json.Unmarshal(data, &w) != nil || w.Type != EventMessageDelta {
			return Usage{}, false
		}
		u = w.Usage
	}
	if u == nil {
		return Usage{}, false
	}
	return u.clamped(), true
}

// Merge folds the counts of a later event into u, as Anthropic's SDKs do:
// the counts are cumulative, so a later non-zero count replaces an earlier
// one and a zero (or absent) count keeps it.
func (u *Usage) Merge(later Usage) {
	for _, f := range [][2]*int64{
		{&u.InputTokens, &later.InputTokens},
		{&u.CacheCreationInputTokens, &later.CacheCreationInputTokens},
		{&u.CacheReadInputTokens, &later.CacheReadInputTokens},
		{&u.OutputTokens, &later.OutputTokens},
	} {
		if *f[1] > 0 {
			*f[0] = *f[1]
		}
	}
}

// API is the usage as the gateway accounts it: prompt tokens are all input
// tokens, cache reads and writes included (as OpenAI's prompt_tokens
// include cached tokens).
func (u Usage) API() api.Usage {
	prompt := u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
	return api.Usage{PromptTokens: prompt, CompletionTokens: u.OutputTokens, TotalTokens: prompt + u.OutputTokens}
}

// clamped drops negative counts: a broken upstream must not credit a budget.
func (u Usage) clamped() Usage {
	return Usage{
		InputTokens:              max(u.InputTokens, 0),
		CacheCreationInputTokens: max(u.CacheCreationInputTokens, 0),
		CacheReadInputTokens:     max(u.CacheReadInputTokens, 0),
		OutputTokens:             max(u.OutputTokens, 0),
	}
}

// usageFromChat converts chat usage: input tokens are the prompt tokens
// less the cached ones, which are cache reads (the chat API reports no
// cache writes).
func usageFromChat(u *openai.Usage) Usage {
	if u == nil {
		return Usage{}
	}
	prompt := max(u.PromptTokens, 0)
	cached := min(max(u.Cached(), 0), prompt)
	return Usage{InputTokens: prompt - cached, CacheReadInputTokens: cached, OutputTokens: max(u.CompletionTokens, 0)}
}
