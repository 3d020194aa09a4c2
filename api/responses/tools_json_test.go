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
	} {
		whole, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r.ToolsJSON, _ = json.Marshal(r.Tools)
		split, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(whole) != string(split) {
			t.Errorf("split encoding differs:\n%s\n%s", whole, split)
		}
	}
}
