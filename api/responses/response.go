package responses

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// Response statuses.
const (
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusIncomplete = "incomplete"
	StatusFailed     = "failed"
)

// Incomplete reasons (incomplete_details.reason).
const (
	ReasonMaxOutputTokens = "max_output_tokens"
	ReasonContentFilter   = "content_filter"
)

// Response is a Responses API response object: the non-stream answer, and
// the "response" member of response.created, response.in_progress,
// response.completed, response.incomplete and response.failed events.
//
// The request settings it echoes (instructions, tools, tool_choice, ...)
// are there because the API always sends them and SDKs expect them;
// nothing here reads them back. Store is false on the translated path:
// the gateway keeps no responses.
type Response struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	Error              *ResponseError     `json:"error"`
	IncompleteDetails  *IncompleteDetails `json:"incomplete_details"`
	Instructions       json.RawMessage    `json:"instructions"`
	MaxOutputTokens    *int64             `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []Item             `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          *Reasoning         `json:"reasoning"`
	Store              bool               `json:"store"`
	Temperature        *float64           `json:"temperature"`
	Text               *TextConfig        `json:"text,omitempty"`
	ToolChoice         *ToolChoice        `json:"tool_choice"`
	Tools              []Tool             `json:"tools"`
	TopP               *float64           `json:"top_p"`
	Usage              *Usage             `json:"usage"`
	Metadata           map[string]string  `json:"metadata"`
	PromptCacheKey     string             `json:"prompt_cache_key,omitempty"`
	// toolsJSON, when set, is Tools already encoded, sent instead of
	// encoding Tools again: every event of a stream repeats the request's
	// tools, which cost most of the encoding (Codex sends dozens).
	// Unexported so only this package, which keeps it in step with Tools,
	// sets it.
	toolsJSON json.RawMessage
}

type responseWire Response

// MarshalJSON encodes the response with the members the API always sends
// present: empty lists and objects rather than null.
func (r Response) MarshalJSON() ([]byte, error) {
	if r.Object == "" {
		r.Object = "response"
	}
	if r.Output == nil {
		r.Output = []Item{}
	}
	if r.Tools == nil {
		r.Tools = []Tool{}
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	if r.Instructions == nil {
		r.Instructions = json.RawMessage("null")
	}
	if r.ToolChoice == nil {
		r.ToolChoice = &ToolChoice{Mode: "auto"}
	}
	if r.toolsJSON == nil {
		return json.Marshal(responseWire(r))
	}
	return r.marshalSplit()
}

// toolsMark is where the tools go in a response encoded with no tools:
// only numbers, the Usage struct and string maps follow, and a quote is
// always escaped inside a string, so the last match is the member itself.
var toolsMark = []byte(`,"tools":[],"top_p":`)

// marshalSplit writes the response with its pre-encoded toolsJSON spliced
// in place of an empty tools list, so the tools' bytes are not compacted
// again and every other member is encoded by the one struct.
func (r Response) marshalSplit() ([]byte, error) {
	tools := r.toolsJSON
	r.Tools = []Tool{}
	whole, err := json.Marshal(responseWire(r))
	if err != nil {
		return nil, err
	}
	at := bytes.LastIndex(whole, toolsMark)
	if at < 0 {
		return nil, errors.New("responses: no tools member in the encoded response")
	}
	out := make([]byte, 0, len(whole)+len(tools))
	out = append(out, whole[:at]...)
	out = append(out, `,"tools":`...)
	out = append(out, tools...)
	return append(out, whole[at+len(toolsMark)-len(`,"top_p":`):]...), nil
}

// ResponseError is a failed response's error.
type ResponseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// IncompleteDetails says why a response is incomplete.
type IncompleteDetails struct {
	Reason string `json:"reason"`
}

// Usage is a Responses answer's token usage.
type Usage struct {
	InputTokens         int64               `json:"input_tokens"`
	InputTokensDetails  InputTokensDetails  `json:"input_tokens_details"`
	OutputTokens        int64               `json:"output_tokens"`
	OutputTokensDetails OutputTokensDetails `json:"output_tokens_details"`
	TotalTokens         int64               `json:"total_tokens"`
}

// InputTokensDetails breaks down the input tokens.
type InputTokensDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

// OutputTokensDetails breaks down the output tokens.
type OutputTokensDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

// API is the usage as the gateway accounts it (input as prompt, output as
// completion), with negative counts dropped so a broken upstream cannot
// credit a budget.
func (u Usage) API() api.Usage {
	input := max(u.InputTokens, 0)
	return api.Usage{PromptTokens: input, CompletionTokens: max(u.OutputTokens, 0),
		TotalTokens: max(u.TotalTokens, 0), CachedTokens: min(u.Cached(), input)}
}

// Cached is the number of cached input tokens, never negative.
func (u Usage) Cached() int64 { return max(u.InputTokensDetails.CachedTokens, 0) }

// newResponse is the response object for req with the given id, before any
// output: the request's settings echoed as the API echoes them.
func newResponse(req *Request, id string, createdAt int64, status string) *Response {
	r := &Response{ID: id, Object: "response", CreatedAt: createdAt, Status: status, ParallelToolCalls: true}
	if req == nil {
		return r
	}
	r.Model, r.MaxOutputTokens, r.Reasoning = req.Model, req.MaxOutputTokens, req.Reasoning
	r.Temperature, r.TopP, r.Text, r.Tools = req.Temperature, req.TopP, req.Text, req.Tools
	r.ToolChoice, r.Metadata, r.PromptCacheKey = req.ToolChoice, req.Metadata, req.PromptCacheKey
	if req.Instructions != "" {
		r.Instructions, _ = json.Marshal(req.Instructions)
	}
	if req.ParallelToolCalls != nil {
		r.ParallelToolCalls = *req.ParallelToolCalls
	}
	if req.PreviousResponseID != "" {
		p := req.PreviousResponseID
		r.PreviousResponseID = &p
	}
	return r
}
