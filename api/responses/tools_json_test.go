package responses

import (
	"encoding/json"
	"testing"
)

// A response with its tools pre-encoded is byte for byte the response
// encoded whole: same members, same order.
func TestResponseToolsJSONSameBytes(t *testing.T) {
	t.Parallel()
	temp, topP := 0.2, 0.9
	var tools []Tool
	if err := json.Unmarshal([]byte(`[{"type":"function","name":"shell","description":"run","parameters":{"type":"object","properties":{"cmd":{"type":"string"}}},"strict":false},{"type":"web_search"}]`), &tools); err != nil {
		t.Fatal(err)
	}
	for _, r := range []Response{
		{ID: "resp_1", Status: StatusInProgress, Model: "gpt-4o", Tools: tools, Temperature: &temp, TopP: &topP, PromptCacheKey: "k"},
		{ID: "resp_2", Status: StatusCompleted, Model: "gpt-4o", Tools: tools, Usage: &Usage{InputTokens: 3}, Metadata: map[string]string{"a": "b"}},
		// Every member set, and the splice's marker inside strings on both sides.
		{ID: "resp_3", Status: StatusIncomplete, Model: `,"tools":[],"top_p":`, Tools: tools,
			Error: &ResponseError{Code: "c", Message: "m"}, IncompleteDetails: &IncompleteDetails{Reason: ReasonMaxOutputTokens},
			Instructions: json.RawMessage(`"be brief"`), Output: []Item{{Type: "message", ID: "msg_1", Role: "assistant"}},
			Reasoning: &Reasoning{Effort: "low"}, Text: &TextConfig{Verbosity: "low"}, ToolChoice: &ToolChoice{Mode: "required"},
			Temperature: &temp, TopP: &topP, Usage: &Usage{InputTokens: 5, OutputTokens: 2, TotalTokens: 7},
			Metadata: map[string]string{"k": `,"tools":[],"top_p":1`}, PromptCacheKey: `,"tools":[],"top_p":`},
	} {
		whole, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r.toolsJSON, _ = json.Marshal(r.Tools)
		split, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(whole) != string(split) {
			t.Errorf("split encoding differs:\n%s\n%s", whole, split)
		}
	}
}
