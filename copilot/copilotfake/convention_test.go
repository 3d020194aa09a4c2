package copilotfake

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestPickTool(t *testing.T) {
	t.Parallel()
	tools := []string{"get_weather", "f", "Bash"}
	tests := []struct {
		text, want string
		ok         bool
	}{
		{"hello", "", false},
		{"call_tool", "get_weather", true},
		{"please call_tool Bash now", "Bash", true},
		{"call_tool: f.", "f", true},
		{"call_tool nothing", "get_weather", true},
		{"call_toolf", "get_weather", true}, // no word boundary after the trigger: first tool
	}
	for _, tc := range tests {
		got, ok := pickTool(tools, tc.text)
		if got != tc.want || ok != tc.ok {
			t.Errorf("pickTool(%q) = %q %v, want %q %v", tc.text, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := pickTool(nil, "call_tool"); ok {
		t.Error("a call without tools")
	}
}

func TestSplitPieces(t *testing.T) {
	t.Parallel()
	for _, n := range []int{-1, 0, 1, 2, 3, 7, 100} {
		got := splitPieces(ToolCallArguments, n)
		want := max(1, min(n, len(ToolCallArguments)))
		if strings.Join(got, "") != ToolCallArguments || len(got) > want || len(got) == 0 || slices.Contains(got, "") {
			t.Errorf("splitPieces(n=%d) = %q", n, got)
		}
	}
	if got := splitPieces("", 3); len(got) != 1 || got[0] != "" {
		t.Errorf("splitPieces(\"\") = %q", got)
	}
}

// TestNewTurn: the turn is built once from the declared tools, the last
// user text, the trailing tool results and the answer: a tool call's
// arguments follow the first declaration of the picked name.
func TestNewTurn(t *testing.T) {
	t.Parallel()
	first := json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}`)
	second := json.RawMessage(`{"type":"object","properties":{"b":{"type":"boolean"}},"required":["b"]}`)
	tools := []tool{{"f", first}, {"f", second}, {"g", second}}
	for _, tc := range []struct {
		name, text, answer string
		lastIsUser         bool
		outputs            []string
		want               turn
	}{
		{"default arguments", "call_tool f", "", true, nil, turn{tool: "f", args: ToolCallArguments}},
		{"first declaration's schema", "call_tool f", "hi", true, nil, turn{tool: "f", args: `{"a":1}`, answer: "hi"}},
		{"named tool", "call_tool g", "hi", true, nil, turn{tool: "g", args: `{"b":false}`, answer: "hi"}},
		{"no trigger", "hello", "hi", true, nil, turn{answer: "hi"}},
		{"tool results", "", "", false, []string{"42"}, turn{outputs: []string{"42"}, hasOutput: true}},
	} {
		got := newTurn(tools, tc.text, tc.lastIsUser, tc.outputs, tc.answer)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: newTurn = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
