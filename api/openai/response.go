package openai

import "github.com/copilot-proxy/copilot-proxy/api"

// ChatResponse is a non-stream chat-completions answer.
type ChatResponse struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []Choice `json:"choices"`
	Usage             *Usage   `json:"usage,omitempty"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
}

// Choice is one choice of a ChatResponse. Copilot may split one answer
// over several choices (text in one, tool calls in another).
type Choice struct {
	Index        int     `json:"index"`
	Message      Message `json:"message"`
	FinishReason string  `json:"finish_reason"`
}

// Usage is the token usage of a chat answer.
type Usage struct {
	PromptTokens            int64                    `json:"prompt_tokens"`
	CompletionTokens        int64                    `json:"completion_tokens"`
	TotalTokens             int64                    `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails breaks down the prompt tokens.
type PromptTokensDetails struct {
	// CachedTokens of the prompt were read from the prompt cache.
	CachedTokens int64 `json:"cached_tokens"`
}

// CompletionTokensDetails breaks down the completion tokens.
type CompletionTokensDetails struct {
	// ReasoningTokens of the completion were spent thinking.
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

// Cached is the number of cached prompt tokens (0 without details).
func (u *Usage) Cached() int64 {
	if u == nil || u.PromptTokensDetails == nil {
		return 0
	}
	return u.PromptTokensDetails.CachedTokens
}

// Reasoning is the number of reasoning tokens (0 without details).
func (u *Usage) Reasoning() int64 {
	if u == nil || u.CompletionTokensDetails == nil {
		return 0
	}
	return u.CompletionTokensDetails.ReasoningTokens
}

// API is the usage as the gateway accounts it, with negative counts
// dropped so a broken upstream cannot credit a budget.
func (u *Usage) API() api.Usage {
	if u == nil {
		return api.Usage{}
	}
	prompt := max(u.PromptTokens, 0)
	return api.Usage{PromptTokens: prompt, CompletionTokens: max(u.CompletionTokens, 0),
		TotalTokens: max(u.TotalTokens, 0), CachedTokens: min(max(u.Cached(), 0), prompt)}
}

// ChatChunk is one event of a chat-completions stream. Choices may be
// empty (Copilot's first chunk carries only prompt_filter_results; the
// usage chunk has none), and usage is usually absent or null: read it
// without assuming either.
type ChatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
}

// ChunkChoice is one choice of a stream chunk. FinishReason is null until
// the choice ends.
type ChunkChoice struct {
	Index        int     `json:"index"`
	Delta        Delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

// Delta is the increment a chunk adds to a choice's message.
type Delta struct {
	Role      string     `json:"role,omitempty"`
	Content   string     `json:"content,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	Refusal   string     `json:"refusal,omitempty"`
	// ReasoningText and ReasoningOpaque: see Message.
	ReasoningText   string `json:"reasoning_text,omitempty"`
	ReasoningOpaque string `json:"reasoning_opaque,omitempty"`
}
