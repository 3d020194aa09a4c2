package copilotfake

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// recordedSchemas are the tool schemas of recorded client requests, by
// tool name: Codex's (parameters) and Claude Code's (input_schema).
func recordedSchemas(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for file, key := range map[string]string{
		"../../api/responses/testdata/codex_request.json":       "parameters",
		"../../api/anthropic/testdata/claude_code_request.json": "input_schema",
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var req struct{ Tools []map[string]json.RawMessage }
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatal(err)
		}
		for _, tool := range req.Tools {
			var name string
			_ = json.Unmarshal(tool["name"], &name)
			if s := tool[key]; name != "" && s != nil {
				out[name] = s
			}
		}
	}
	return out
}

func TestExampleArgsRecordedTools(t *testing.T) {
	t.Parallel()
	schemas := recordedSchemas(t)
	for _, tc := range []struct{ tool, want string }{
		{"shell", `{"command":["echo","demo"]}`},
		{"exec_command", `{"cmd":"echo demo"}`},
		{"apply_patch", `{"input":"demo"}`},
		{"update_plan", `{"plan":[{"status":"demo","step":"demo"}]}`},
		{"write_stdin", `{"session_id":1}`},
		{"list_mcp_resources", `{}`},
		{"Bash", `{"command":"echo demo"}`},
		{"Read", `{"file_path":"demo"}`},
		{"Edit", `{"file_path":"demo","new_string":"demo","old_string":"demo"}`},
		{"MultiEdit", `{"edits":[{"new_string":"demo","old_string":"demo"}],"file_path":"demo"}`},
		{"WebFetch", `{"prompt":"demo","url":"https://example.com/"}`},
		{"TodoWrite", `{"todos":[{"activeForm":"demo","content":"demo","status":"pending"}]}`},
		{"EnterPlanMode", `{}`},
		{"mcp__github__get_pull_request", `{"owner":"demo","pullNumber":1,"repo":"demo"}`},
	} {
		s, ok := schemas[tc.tool]
		if !ok {
			t.Errorf("%s: not in the recorded requests", tc.tool)
			continue
		}
		if got := string(exampleArgs(s)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.tool, got, tc.want)
		}
	}
	if len(schemas) < 30 {
		t.Errorf("only %d recorded tools", len(schemas))
	}
	for name, s := range schemas {
		if err := validArgs(s, exampleArgs(s)); err != nil {
			t.Errorf("%s: %s: %v", name, exampleArgs(s), err)
		}
	}
}

func TestExampleArgsKeywords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ schema, want string }{
		{`{"type":"object","properties":{"a":{"const":"x"},"b":{"enum":[3,"y"]},"c":{"type":"string"}},"required":["a","b"]}`, `{"a":"x","b":3}`},
		{`{"properties":{"a":{"anyOf":[{"type":"integer"},{"type":"string"}]},"b":{"oneOf":[{"type":"boolean"}]}},"required":["a","b"]}`, `{"a":1,"b":false}`},
		{`{"type":"object","properties":{"n":{"type":["null","integer"],"minimum":2.5}},"required":["n"]}`, `{"n":3}`},
		{`{"type":"object","properties":{"n":{"type":"number","maximum":0},"m":{"type":"integer","exclusiveMinimum":1}},"required":["n","m"]}`, `{"m":2,"n":0}`},
		{`{"type":"object","properties":{"s":{"type":"string","minLength":6},"t":{"type":"string","maxLength":2}},"required":["s","t"]}`, `{"s":"demooo","t":"de"}`},
		{`{"type":"object","properties":{"a":{"type":"array","items":{"type":"integer"},"minItems":2}},"required":["a"]}`, `{"a":[1,1]}`},
		{`{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"},"maxItems":1}},"required":["command"]}`, `{"command":["echo demo"]}`},
		{`{"$defs":{"p":{"type":"object","properties":{"x":{"$ref":"#/$defs/p"}},"required":["x"]}},"$ref":"#/$defs/p"}`, ``},
		{`{"definitions":{"d":{"type":"string","format":"date-time"}},"type":"object","properties":{"when":{"$ref":"#/definitions/d"}},"required":["when"]}`, `{"when":"2025-01-01T00:00:00Z"}`},
		{`{"allOf":[{"$ref":"#/$defs/b"},{"properties":{"c":{"type":"boolean"}},"required":["c"]}],"$defs":{"b":{"type":"object","properties":{"b":{"type":"integer"}},"required":["b"]}}}`, `{"b":1,"c":false}`},
		{`{"type":"object","required":["x"],"additionalProperties":{"type":"integer"}}`, `{"x":1}`},
		{`{"type":"object"}`, `{}`},
		{`{}`, `{}`},
		{``, `{}`},
		{`not json`, `{}`},
		{`{"type":"string"}`, `{}`},
	} {
		got := string(exampleArgs(json.RawMessage(tc.schema)))
		if tc.want == "" { // self-reference: bounded, still an object
			var v map[string]any
			if json.Unmarshal([]byte(got), &v) != nil || v["x"] == nil {
				t.Errorf("%s: %s", tc.schema, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.schema, got, tc.want)
		}
	}
}

// validArgs checks args against the parts of schema the recorded tools
// use: type, enum, const, required, additionalProperties false, items,
// minItems and minLength.
func validArgs(schema, args json.RawMessage) error {
	var s, v any
	if err := json.Unmarshal(schema, &s); err != nil {
		return err
	}
	if err := json.Unmarshal(args, &v); err != nil {
		return err
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("not an object")
	}
	return validValue(asSchema(s), v, "")
}

func validValue(s map[string]any, v any, at string) error {
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, v) {
		return fmt.Errorf("%s: %v not in %v", at, v, e)
	}
	if c, ok := s["const"]; ok && c != v {
		return fmt.Errorf("%s: %v, want const %v", at, v, c)
	}
	switch schemaType(s) {
	case "object":
		return validObject(s, v, at)
	case "array":
		a, ok := v.([]any)
		if n, _ := s["minItems"].(float64); !ok || float64(len(a)) < n {
			return fmt.Errorf("%s: %v, want an array of at least %v", at, v, n)
		}
		for i, x := range a {
			if err := validValue(asSchema(s["items"]), x, fmt.Sprint(at, "[", i, "]")); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if n, _ := s["minLength"].(float64); !ok || float64(len(str)) < n {
			return fmt.Errorf("%s: %v, want a string of at least %v", at, v, n)
		}
	case "number", "integer":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("%s: %v, want a number", at, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %v, want a boolean", at, v)
		}
	}
	return nil
}

func validObject(s map[string]any, v any, at string) error {
	o, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: %v, want an object", at, v)
	}
	props := asSchema(s["properties"])
	required, _ := s["required"].([]any)
	for _, r := range required {
		if _, ok := o[r.(string)]; !ok {
			return fmt.Errorf("%s: required %v missing", at, r)
		}
	}
	for k, x := range o {
		if _, declared := props[k]; !declared && s["additionalProperties"] == false {
			return fmt.Errorf("%s: %s not allowed", at, k)
		}
		if err := validValue(asSchema(props[k]), x, at+"."+k); err != nil {
			return err
		}
	}
	return nil
}

// TestWithAnswerToolArguments: with WithAnswer, the tool calls of every
// API, whole or streamed, carry arguments built from the called tool's
// schema; without it they carry ToolCallArguments.
func TestWithAnswerToolArguments(t *testing.T) {
	t.Parallel()
	bash := `{"type":"object","properties":{"command":{"type":"string"},"timeout":{"type":"number"}},"required":["command"]}`
	const want = `{"command":"echo demo"}`
	bodies := map[string]string{
		PathChat: `{"model":"gpt-4o","tools":[{"type":"function","function":{"name":"f","parameters":{}}},` +
			`{"type":"function","function":{"name":"Bash","parameters":` + bash + `}}],"messages":[{"role":"user","content":"call_tool Bash"}]}`,
		PathResponses: `{"model":"gpt-5","tools":[{"type":"function","name":"f","parameters":{}},` +
			`{"type":"function","name":"Bash","parameters":` + bash + `}],"input":"call_tool Bash"}`,
		PathMessages: `{"model":"claude-sonnet-4.5","max_tokens":100,"tools":[{"name":"f","input_schema":{}},` +
			`{"name":"Bash","input_schema":` + bash + `}],"messages":[{"role":"user","content":"call_tool Bash"}]}`,
	}
	demo, plain := newFake(t, WithAnswer(demoAnswer)), newFake(t)
	for p, body := range bodies {
		for _, tc := range []struct {
			s    *Server
			want string
		}{{demo, want}, {plain, ToolCallArguments}} {
			auth := bearer(t, tc.s)
			if got := callArgs(t, p, post(t, tc.s, p, auth, body).body); got != tc.want {
				t.Errorf("%s: arguments %s, want %s", p, got, tc.want)
			}
			stream := post(t, tc.s, p, auth, `{"stream":true,`+body[1:]).body
			if got := streamedArgs(t, p, stream); got != tc.want {
				t.Errorf("%s stream: arguments %s, want %s", p, got, tc.want)
			}
		}
	}
}

// callArgs is the arguments of the tool call of a non-stream answer.
func callArgs(t *testing.T, p, body string) string {
	t.Helper()
	m := decode(t, body)
	switch p {
	case PathChat:
		s, _ := path(m, "choices", 0, "message", "tool_calls", 0, "function", "arguments").(string)
		return s
	case PathResponses:
		s, _ := path(m, "output", 0, "arguments").(string)
		return s
	}
	b, _ := json.Marshal(path(m, "content", 0, "input"))
	return string(b)
}

// streamedArgs joins the argument deltas of a streamed tool call.
func streamedArgs(t *testing.T, p, body string) string {
	t.Helper()
	var b []byte
	if p == PathChat {
		for _, ev := range readEvents(t, body) {
			var chunk map[string]any
			if json.Unmarshal([]byte(strings.TrimPrefix(ev, "data: ")), &chunk) == nil {
				s, _ := path(chunk, "choices", 0, "delta", "tool_calls", 0, "function", "arguments").(string)
				b = append(b, s...)
			}
		}
		return string(b)
	}
	for _, e := range parseSSE(t, body) {
		switch e.event {
		case "response.function_call_arguments.delta":
			b = append(b, e.data["delta"].(string)...)
		case "content_block_delta":
			s, _ := path(e.data, "delta", "partial_json").(string)
			b = append(b, s...)
		}
	}
	return string(b)
}
