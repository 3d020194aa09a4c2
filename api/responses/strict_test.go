package responses_test

// Strict decoding of the events StreamFromChat produces, with structs that
// mirror the field names of openai-go's responses package (v3.102.0:
// ResponseStreamEventUnion's variants, Response, ResponseOutputItemUnion,
// ResponseUsage). openai-go is not a dependency of this module: the
// gateway's SDK test decodes with the SDK itself. Here an unknown member
// is an error (DisallowUnknownFields) and every member openai-go marks
// `api:"required"` must be present.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

type sResponseEvent struct {
	Response       sResponse `json:"response"`
	SequenceNumber int64     `json:"sequence_number"`
	Type           string    `json:"type"`
}

type sResponse struct {
	ID                 string            `json:"id"`
	CreatedAt          float64           `json:"created_at"`
	Error              *sError           `json:"error"`
	IncompleteDetails  *sIncomplete      `json:"incomplete_details"`
	Instructions       json.RawMessage   `json:"instructions"`
	Metadata           map[string]string `json:"metadata"`
	Model              string            `json:"model"`
	Object             string            `json:"object"`
	Output             []sItem           `json:"output"`
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	Temperature        *float64          `json:"temperature"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	Tools              []json.RawMessage `json:"tools"`
	TopP               *float64          `json:"top_p"`
	MaxOutputTokens    *int64            `json:"max_output_tokens"`
	PreviousResponseID *string           `json:"previous_response_id"`
	PromptCacheKey     string            `json:"prompt_cache_key"`
	Reasoning          *struct {
		Effort  string `json:"effort"`
		Summary string `json:"summary"`
	} `json:"reasoning"`
	Status string          `json:"status"`
	Store  bool            `json:"store"`
	Text   json.RawMessage `json:"text"`
	Usage  *sUsage         `json:"usage"`
}

type sError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type sIncomplete struct {
	Reason string `json:"reason"`
}

type sUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int64 `json:"total_tokens"`
}

// sItem is the union of ResponseOutputMessage, ResponseFunctionToolCall
// and ResponseReasoningItem.
type sItem struct {
	ID               string        `json:"id"`
	Type             string        `json:"type"`
	Status           string        `json:"status"`
	Role             string        `json:"role"`
	Content          []sOutputText `json:"content"`
	CallID           string        `json:"call_id"`
	Name             string        `json:"name"`
	Namespace        string        `json:"namespace"`
	Arguments        string        `json:"arguments"`
	Summary          []sSummary    `json:"summary"`
	EncryptedContent *string       `json:"encrypted_content"`
}

type sOutputText struct {
	Annotations []json.RawMessage `json:"annotations"`
	Text        string            `json:"text"`
	Type        string            `json:"type"`
	Logprobs    []json.RawMessage `json:"logprobs"`
}

type sSummary struct {
	Text string `json:"text"`
	Type string `json:"type"`
}

type sItemEvent struct {
	Item           sItem  `json:"item"`
	OutputIndex    int64  `json:"output_index"`
	SequenceNumber int64  `json:"sequence_number"`
	Type           string `json:"type"`
}

type sPartEvent struct {
	ContentIndex   int64       `json:"content_index"`
	ItemID         string      `json:"item_id"`
	OutputIndex    int64       `json:"output_index"`
	Part           sOutputText `json:"part"`
	SequenceNumber int64       `json:"sequence_number"`
	Type           string      `json:"type"`
}

type sTextEvent struct {
	ContentIndex   int64             `json:"content_index"`
	Delta          *string           `json:"delta"`
	Text           *string           `json:"text"`
	ItemID         string            `json:"item_id"`
	Logprobs       []json.RawMessage `json:"logprobs"`
	OutputIndex    int64             `json:"output_index"`
	SequenceNumber int64             `json:"sequence_number"`
	Type           string            `json:"type"`
}

type sArgsEvent struct {
	Delta          *string `json:"delta"`
	Arguments      *string `json:"arguments"`
	ItemID         string  `json:"item_id"`
	OutputIndex    int64   `json:"output_index"`
	SequenceNumber int64   `json:"sequence_number"`
	Type           string  `json:"type"`
}

type sSummaryEvent struct {
	ItemID         string    `json:"item_id"`
	OutputIndex    int64     `json:"output_index"`
	Part           *sSummary `json:"part"`
	Delta          *string   `json:"delta"`
	Text           *string   `json:"text"`
	SequenceNumber int64     `json:"sequence_number"`
	SummaryIndex   int64     `json:"summary_index"`
	Type           string    `json:"type"`
}

// required lists, per event type, the members openai-go requires.
var required = map[string][]string{
	responses.EventCreated:          {"response", "sequence_number", "type"},
	responses.EventInProgress:       {"response", "sequence_number", "type"},
	responses.EventCompleted:        {"response", "sequence_number", "type"},
	responses.EventIncomplete:       {"response", "sequence_number", "type"},
	responses.EventFailed:           {"response", "sequence_number", "type"},
	responses.EventItemAdded:        {"item", "output_index", "sequence_number", "type"},
	responses.EventItemDone:         {"item", "output_index", "sequence_number", "type"},
	responses.EventPartAdded:        {"content_index", "item_id", "output_index", "part", "sequence_number", "type"},
	responses.EventPartDone:         {"content_index", "item_id", "output_index", "part", "sequence_number", "type"},
	responses.EventTextDelta:        {"content_index", "delta", "item_id", "logprobs", "output_index", "sequence_number", "type"},
	responses.EventTextDone:         {"content_index", "item_id", "logprobs", "output_index", "sequence_number", "text", "type"},
	responses.EventArgsDelta:        {"delta", "item_id", "output_index", "sequence_number", "type"},
	responses.EventArgsDone:         {"arguments", "item_id", "output_index", "sequence_number", "type"},
	responses.EventSummaryPartAdded: {"item_id", "output_index", "part", "sequence_number", "summary_index", "type"},
	responses.EventSummaryPartDone:  {"item_id", "output_index", "part", "sequence_number", "summary_index", "type"},
	responses.EventSummaryTextDelta: {"delta", "item_id", "output_index", "sequence_number", "summary_index", "type"},
	responses.EventSummaryTextDone:  {"item_id", "output_index", "sequence_number", "summary_index", "text", "type"},
}

var responseRequired = []string{"id", "created_at", "error", "incomplete_details", "instructions", "metadata",
	"model", "object", "output", "parallel_tool_calls", "temperature", "tool_choice", "tools", "top_p"}

var itemRequired = map[string][]string{
	"message":       {"id", "content", "role", "status", "type"},
	"function_call": {"arguments", "call_id", "name", "type"},
	"reasoning":     {"id", "summary", "type"},
}

// decodeStrict decodes one event into its mirror type and checks the
// required members, returning the decoded value.
func decodeStrict(t *testing.T, ev responses.Event) any {
	t.Helper()
	v, err := strictEvent(ev)
	if err != nil {
		t.Fatalf("event %s: %v\n%s", ev.Type, err, ev.Data)
	}
	return v
}

func strictEvent(ev responses.Event) (any, error) {
	var v any
	switch ev.Type {
	case responses.EventCreated, responses.EventInProgress, responses.EventCompleted, responses.EventIncomplete, responses.EventFailed:
		v = &sResponseEvent{}
	case responses.EventItemAdded, responses.EventItemDone:
		v = &sItemEvent{}
	case responses.EventPartAdded, responses.EventPartDone:
		v = &sPartEvent{}
	case responses.EventTextDelta, responses.EventTextDone:
		v = &sTextEvent{}
	case responses.EventArgsDelta, responses.EventArgsDone:
		v = &sArgsEvent{}
	case responses.EventSummaryPartAdded, responses.EventSummaryPartDone, responses.EventSummaryTextDelta, responses.EventSummaryTextDone:
		v = &sSummaryEvent{}
	default:
		return nil, fmt.Errorf("unexpected event type %q", ev.Type)
	}
	dec := json.NewDecoder(bytes.NewReader(ev.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(ev.Data, &members); err != nil {
		return nil, err
	}
	if err := hasAll(members, required[ev.Type]); err != nil {
		return nil, err
	}
	if string(members["type"]) != `"`+ev.Type+`"` {
		return nil, fmt.Errorf("data type %s differs from event type", members["type"])
	}
	return v, nestedRequired(members)
}

func hasAll(members map[string]json.RawMessage, keys []string) error {
	for _, k := range keys {
		if _, ok := members[k]; !ok {
			return fmt.Errorf("required member %q missing", k)
		}
	}
	return nil
}

// nestedRequired checks the response object's and the items' required
// members.
func nestedRequired(members map[string]json.RawMessage) error {
	var items []json.RawMessage
	if raw, ok := members["response"]; ok {
		var r map[string]json.RawMessage
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		if err := hasAll(r, responseRequired); err != nil {
			return fmt.Errorf("response: %w", err)
		}
		if err := json.Unmarshal(r["output"], &items); err != nil {
			return err
		}
	}
	if raw, ok := members["item"]; ok {
		items = append(items, raw)
	}
	for _, raw := range items {
		var it map[string]json.RawMessage
		if err := json.Unmarshal(raw, &it); err != nil {
			return err
		}
		var typ string
		_ = json.Unmarshal(it["type"], &typ)
		if err := hasAll(it, itemRequired[typ]); err != nil {
			return fmt.Errorf("item %s: %w", typ, err)
		}
	}
	return nil
}
