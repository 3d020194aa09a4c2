package copilotfake

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestAnswerPieces(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		n    int
		want []string
	}{
		{"one two three", 10, []string{"one ", "two ", "three"}},
		{"one two three", 3, []string{"one ", "two ", "three"}},
		{"one two three four", 2, []string{"one two ", "three four"}},
		{"one two three", 0, []string{"one two three"}},
		{"single", 5, []string{"single"}},
		{"trailing space ", 5, []string{"trailing ", "space "}},
	} {
		got := answerPieces(tc.text, tc.n)
		if !slices.Equal(got, tc.want) || strings.Join(got, "") != tc.text {
			t.Errorf("answerPieces(%q, %d) = %q, want %q", tc.text, tc.n, got, tc.want)
		}
	}
}

func TestPrefixedModelsJSON(t *testing.T) {
	t.Parallel()
	body := PrefixedModelsJSON("demo-", "Demo ")
	ids := ModelIDs(body)
	if want := len(ModelIDs(DefaultModelsJSON)); len(ids) != want || want == 0 {
		t.Fatalf("ids %v, want %d", ids, want)
	}
	for i, id := range ids {
		if id != "demo-"+ModelIDs(DefaultModelsJSON)[i] {
			t.Errorf("id %q not prefixed", id)
		}
	}
	if !strings.Contains(body, `"name":"Demo GPT-4o"`) {
		t.Errorf("names not prefixed: %.300s", body)
	}
	// The endpoints stay with their models: the fake still routes by them.
	s := newFake(t, WithModelsJSON(body))
	auth := bearer(t, s)
	if r := post(t, s, PathChat, auth, `{"model":"demo-gpt-5-codex","messages":[{"role":"user","content":"hi"}]}`); r.status != 400 ||
		!strings.Contains(r.body, "unsupported_api_for_model") {
		t.Errorf("demo-gpt-5-codex on chat: %d %s", r.status, r.body)
	}
}

const demoAnswer = "This is a demo answer."

// TestWithAnswer: every API answers with the configured text, whole or word
// by word, followed by tool outputs; tool calls are unchanged.
func TestWithAnswer(t *testing.T) {
	t.Parallel()
	s := newFake(t, WithAnswer(demoAnswer))
	auth := bearer(t, s)
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`
	for _, tc := range []struct {
		name, path, body, want string
	}{
		{"chat", PathChat, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, demoAnswer},
		{"chat tool result", PathChat, `{"model":"gpt-4o",` + tools + `,"messages":[{"role":"user","content":"call_tool"},` +
			`{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},` +
			`{"role":"tool","tool_call_id":"c1","content":"22C"}]}`, demoAnswer + " | tool output: 22C"},
		{"responses", PathResponses, `{"model":"gpt-5","input":"hi"}`, demoAnswer},
		{"messages", PathMessages, `{"model":"claude-sonnet-4.5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`, demoAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := post(t, s, tc.path, auth, tc.body)
			if got := answerText(t, tc.path, r.body); got != tc.want {
				t.Errorf("non-stream text %q, want %q (%s)", got, tc.want, r.body)
			}
			r = post(t, s, tc.path, auth, strings.Replace(tc.body, "{", `{"stream":true,`, 1))
			if got := streamedText(t, tc.path, r.body); got != tc.want {
				t.Errorf("streamed text %q, want %q", got, tc.want)
			}
		})
	}
	r := post(t, s, PathChat, auth, `{"model":"gpt-4o",`+tools+`,"messages":[{"role":"user","content":"call_tool"}]}`)
	if !strings.Contains(r.body, `"tool_calls"`) || strings.Contains(r.body, demoAnswer) {
		t.Errorf("tool call: %s", r.body)
	}
}

// answerText is the text of a non-stream answer of any of the APIs.
func answerText(t *testing.T, p, body string) string {
	t.Helper()
	m := decode(t, body)
	switch p {
	case PathChat:
		s, _ := path(m, "choices", 0, "message", "content").(string)
		return s
	case PathResponses:
		s, _ := path(m, "output", 0, "content", 0, "text").(string)
		return s
	}
	s, _ := path(m, "content", 0, "text").(string)
	return s
}

// streamedText joins the text deltas of a stream of any of the APIs.
func streamedText(t *testing.T, p, body string) string {
	t.Helper()
	var b strings.Builder
	if p == PathChat {
		for _, ev := range readEvents(t, body) {
			var chunk map[string]any
			if json.Unmarshal([]byte(strings.TrimPrefix(ev, "data: ")), &chunk) == nil {
				s, _ := path(chunk, "choices", 0, "delta", "content").(string)
				b.WriteString(s)
			}
		}
		return b.String()
	}
	for _, e := range parseSSE(t, body) {
		switch e.event {
		case "response.output_text.delta":
			b.WriteString(e.data["delta"].(string))
		case "content_block_delta":
			s, _ := path(e.data, "delta", "text").(string)
			b.WriteString(s)
		}
	}
	return b.String()
}
