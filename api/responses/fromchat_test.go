package responses_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

// A chat client's agent turn as the OpenAI SDKs send it.
const chatAgentBody = `{"model":"gpt-5-codex","stream":true,"stream_options":{"include_usage":true},
 "messages":[
  {"role":"system","content":"You are a helpful assistant."},
  {"role":"user","content":[{"type":"text","text":"What is in this picture, and what's the weather in Paris?"},
    {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},
  {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
  {"role":"tool","tool_call_id":"call_1","content":"18C, cloudy"},
  {"role":"assistant","content":"It is 18C and cloudy in Paris."},
  {"role":"system","content":"Answer in French from now on."},
  {"role":"user","content":"Thanks!"}],
 "tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
 "tool_choice":"auto","parallel_tool_calls":true,"max_tokens":4,"reasoning_effort":"high","temperature":0.5,
 "response_format":{"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"},"strict":true}},
 "seed":7,"stop":["\n\n"]}`

func TestFromChat(t *testing.T) {
	var chat openai.ChatRequest
	if err := json.Unmarshal([]byte(chatAgentBody), &chat); err != nil {
		t.Fatal(err)
	}
	req, err := responses.FromChat(&chat)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, it := range req.Input.Items {
		kinds = append(kinds, it.Type+":"+it.Role)
	}
	want := "message:user,function_call:,function_call_output:,message:assistant,message:developer,message:user"
	if got := strings.Join(kinds, ","); got != want {
		t.Fatalf("items %s", got)
	}
	switch {
	case req.Instructions != "You are a helpful assistant." || *req.Store || !req.Includes("reasoning.encrypted_content"):
		t.Fatalf("instructions/store/include %s", mustJSON(t, req))
	case *req.MaxOutputTokens != 16 || req.Reasoning.Effort != "high" || !req.Stream || *req.Temperature != 0.5:
		t.Fatalf("settings %s", mustJSON(t, req))
	case req.Tools[0].Name != "get_weather" || *req.Tools[0].Strict || req.ToolChoice.Mode != "auto":
		t.Fatalf("tools %s", mustJSON(t, req.Tools))
	case req.Text.Format.Type != "json_schema" || req.Text.Format.Name != "answer" || !*req.Text.Format.Strict:
		t.Fatalf("text %s", mustJSON(t, req.Text))
	}
	img := req.Input.Items[0].Content.Parts[1]
	if img.Type != "input_image" || img.Detail != "auto" || img.ImageURL != "data:image/png;base64,iVBORw0KGgo=" {
		t.Fatalf("image %s", mustJSON(t, img))
	}
	// The body sent upstream is a valid Responses request.
	if _, e := responses.ParseRequest([]byte(mustJSON(t, req))); e != nil {
		t.Fatal(e)
	}
}

func TestFromChatRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"n":        `{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`,
		"audio":    `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"","format":"wav"}}]}]}`,
		"role":     `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`,
		"toolType": `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}`,
	} {
		var chat openai.ChatRequest
		if err := json.Unmarshal([]byte(body), &chat); err != nil {
			t.Fatal(err)
		}
		_, err := responses.FromChat(&chat)
		var e *api.Error
		if !errors.As(err, &e) || e.HTTPStatus() != 400 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := responses.FromChat(nil); err == nil {
		t.Error("nil accepted")
	}
}

// comparable reduces a chat request to what must survive chat ->
// Responses -> chat: each message's role, text, images, tool calls and
// tool_call_id, and each tool's name, description and parameters.
func comparable(t *testing.T, r *openai.ChatRequest) string {
	var b strings.Builder
	for _, m := range r.Messages {
		fmt.Fprintf(&b, "%s %q tool_call_id=%s", m.Role, m.Content.PlainText(), m.ToolCallID)
		for _, p := range m.Content.Parts {
			if p.ImageURL != nil {
				fmt.Fprintf(&b, " image=%s", p.ImageURL.URL)
			}
		}
		for _, c := range m.ToolCalls {
			fmt.Fprintf(&b, " call=%s/%s/%s", c.ID, c.Function.Name, c.Function.Arguments)
		}
		b.WriteString("\n")
	}
	for _, tool := range r.Tools {
		fmt.Fprintf(&b, "tool %s %q %s\n", tool.Function.Name, tool.Function.Description, tool.Function.Parameters)
	}
	return b.String()
}

func TestChatToResponsesToChatKeepsMessagesAndTools(t *testing.T) {
	var chat openai.ChatRequest
	if err := json.Unmarshal([]byte(chatAgentBody), &chat); err != nil {
		t.Fatal(err)
	}
	req, err := responses.FromChat(&chat)
	if err != nil {
		t.Fatal(err)
	}
	parsed, e := responses.ParseRequest([]byte(mustJSON(t, req))) // through the wire
	if e != nil {
		t.Fatal(e)
	}
	back, notes, err := responses.ToChat(parsed)
	if err != nil || !notes.Empty() {
		t.Fatalf("%v %+v", err, notes)
	}
	if got, want := comparable(t, back), comparable(t, &chat); got != want {
		t.Fatalf("round trip changed the conversation:\n got:\n%s\nwant:\n%s", got, want)
	}
	if back.ToolChoice.Mode != "auto" || !*back.ParallelToolCalls || back.ReasoningEffort != "high" || !back.Stream {
		t.Fatalf("settings %s", mustJSON(t, back))
	}
}

func TestToChatResponse(t *testing.T) {
	var r responses.Response
	if err := json.Unmarshal(readFile(t, "responses_body.json"), &r); err != nil {
		t.Fatal(err)
	}
	c := responses.ToChatResponse(&r)
	m := c.Choices[0].Message
	switch {
	case c.ID != "resp_0a1b2c" || c.Object != "chat.completion" || c.Created != 1764412345 || c.Model != "gpt-5-codex":
		t.Fatalf("head %s", mustJSON(t, c))
	case m.Content.PlainText() != "I'll check the weather." || m.ReasoningText != "**Planning**":
		t.Fatalf("message %s", mustJSON(t, m))
	case m.ReasoningOpaque != "copilot-proxy/responses:rs_0a1:gAAAAABenc":
		t.Fatalf("opaque %q", m.ReasoningOpaque)
	case len(m.ToolCalls) != 1 || m.ToolCalls[0].ID != "call_Xy1" || m.ToolCalls[0].Function.Arguments != `{"city":"Paris"}`:
		t.Fatalf("calls %s", mustJSON(t, m.ToolCalls))
	case c.Choices[0].FinishReason != "tool_calls" || c.Usage.PromptTokens != 320 || c.Usage.Cached() != 256 ||
		c.Usage.Reasoning() != 64 || c.Usage.TotalTokens != 468:
		t.Fatalf("finish/usage %s", mustJSON(t, c))
	}
	// The reasoning goes back to /responses on the next turn.
	next, err := responses.FromChat(&openai.ChatRequest{Model: "m", Messages: []openai.Message{{Role: "user", Content: openai.TextContent("q")}, m}})
	if err != nil {
		t.Fatal(err)
	}
	rs := next.Input.Items[1]
	if rs.Type != "reasoning" || rs.ID != "rs_0a1" || *rs.EncryptedContent != "gAAAAABenc" || rs.Summary[0].Text != "**Planning**" {
		t.Fatalf("reasoning item %s", mustJSON(t, next.Input.Items))
	}
	inc := responses.ToChatResponse(&responses.Response{Status: "incomplete", IncompleteDetails: &responses.IncompleteDetails{Reason: "max_output_tokens"}})
	if inc.Choices[0].FinishReason != "length" || inc.Choices[0].Message.Content.Text == nil || inc.Usage != nil {
		t.Fatalf("incomplete %s", mustJSON(t, inc))
	}
}

// sseEvents is the (event name, data) pairs of an SSE text.
func sseEvents(b []byte) (names []string, datas [][]byte) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	name := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			names, datas = append(names, name), append(datas, []byte(strings.TrimPrefix(line, "data: ")))
			name = ""
		}
	}
	return names, datas
}

func describeChunk(c openai.ChatChunk) string {
	b, _ := json.Marshal(c)
	return string(b)
}

func TestStreamToChatGolden(t *testing.T) {
	names, datas := sseEvents(readFile(t, "responses_stream.sse"))
	s := responses.NewStreamToChat("gpt-5-codex")
	var lines []string
	for i := range names {
		if s.Done() {
			t.Fatal("done before the last event")
		}
		chunks, err := s.Event(names[i], datas[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			lines = append(lines, describeChunk(c))
		}
	}
	if !s.Done() {
		t.Fatal("not done")
	}
	golden(t, "stream_to_chat.golden", strings.Join(lines, "\n")+"\n")
	// Events without the SSE name (type read from the data) give the same.
	s2 := responses.NewStreamToChat("x")
	var again []string
	for i := range datas {
		chunks, _ := s2.Event("", datas[i])
		for _, c := range chunks {
			again = append(again, describeChunk(c))
		}
	}
	if !reflect.DeepEqual(again, lines) {
		t.Fatal("reading the type from the data changed the chunks")
	}
}

func TestStreamToChatErrors(t *testing.T) {
	tests := []struct {
		name, typ, data string
		code            api.Code
		msg             string
	}{
		{"failed", "response.failed", `{"type":"response.failed","sequence_number":3,"response":{"id":"r","status":"failed","error":{"code":"rate_limit_exceeded","message":"Slow down."}}}`, "rate_limit_exceeded", "Copilot: Slow down."},
		{"error event", "error", `{"type":"error","sequence_number":1,"code":null,"message":"The server had an error.","param":null}`, api.CodeUpstreamError, "Copilot: The server had an error."},
		{"failed without error", "", `{"type":"response.failed","response":{"status":"failed"}}`, api.CodeUpstreamError, "Copilot: The upstream response failed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := responses.NewStreamToChat("m")
			chunks, err := s.Event(tt.typ, []byte(tt.data))
			var e *api.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Message != tt.msg || chunks != nil || !s.Done() {
				t.Fatalf("chunks %v err %#v", chunks, err)
			}
			if c, err := s.Event("response.completed", []byte(`{}`)); c != nil || err != nil {
				t.Fatal("events after the end")
			}
		})
	}
	s := responses.NewStreamToChat("m")
	if _, err := s.Event("", []byte(`not json`)); err == nil {
		t.Fatal("bad event accepted")
	}
	if c, err := s.Event("response.output_text.annotation.added", []byte(`not decoded`)); c != nil || err != nil {
		t.Fatal("unhandled event decoded")
	}
}

// Upstreams that skip deltas: text and calls given only in the done items
// still reach the chat client, once.
func TestStreamToChatDoneOnly(t *testing.T) {
	s := responses.NewStreamToChat("m")
	var out []string
	for _, ev := range []string{
		`{"type":"response.output_item.done","output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"output_text","text":"hi","annotations":[]}]}}`,
		`{"type":"response.output_item.done","output_index":1,"item":{"id":"fc_1","type":"function_call","call_id":"c1","name":"f","arguments":"{}"}}`,
		`{"type":"response.function_call_arguments.done","item_id":"fc_1","output_index":1,"arguments":"{}"}`,
		`{"type":"response.completed","response":{"status":"completed"}}`,
	} {
		chunks, err := s.Event("", []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			out = append(out, describeChunk(c))
		}
	}
	want := []string{
		`{"id":"","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}`,
		`{"id":"","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}`,
		`{"id":"","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("chunks:\n%s", strings.Join(out, "\n"))
	}
}

// accumulated is what a chat client builds from a stream.
type accumulated struct {
	text, reasoning string
	calls           []string
	finish          string
	usage           openai.Usage
}

type callAcc struct{ id, name, args string }

func (a *accumulated) add(c *openai.ChatChunk, calls map[string]*callAcc, order *[]string) {
	for _, ch := range c.Choices {
		a.text += ch.Delta.Content
		a.reasoning += ch.Delta.ReasoningText
		for _, tc := range ch.Delta.ToolCalls {
			key := fmt.Sprint(ch.Index, "/", *tc.Index)
			if calls[key] == nil {
				calls[key] = &callAcc{}
				*order = append(*order, key)
			}
			acc := calls[key]
			acc.id += tc.ID
			acc.name += tc.Function.Name
			acc.args += tc.Function.Arguments
		}
		if ch.FinishReason != nil {
			a.finish = *ch.FinishReason
		}
	}
	if c.Usage != nil {
		a.usage = openai.Usage{PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens, TotalTokens: c.Usage.TotalTokens}
	}
}

func accumulate(chunks []openai.ChatChunk) accumulated {
	var a accumulated
	calls, order := map[string]*callAcc{}, []string{}
	for i := range chunks {
		a.add(&chunks[i], calls, &order)
	}
	for _, k := range order {
		c := calls[k]
		a.calls = append(a.calls, "id="+c.id+" name="+c.name+" args="+c.args)
	}
	return a
}

// A chat stream through StreamFromChat and back through StreamToChat
// gives a chat client the same answer (tool calls renumbered in order,
// names as the model sent them).
func TestChatStreamThroughResponsesAndBack(t *testing.T) {
	req := loadRequest(t, "codex_request.json")
	for _, file := range []string{"chat_text.sse", "chat_split_tools.sse", "chat_reasoning.sse", "chat_length.sse"} {
		t.Run(file, func(t *testing.T) {
			var original []openai.ChatChunk
			datas, _ := sseData(readFile(t, file))
			for _, d := range datas {
				var c openai.ChatChunk
				_ = json.Unmarshal(d, &c)
				original = append(original, c)
			}
			back := responses.NewStreamToChat(req.Model)
			var chunks []openai.ChatChunk
			for _, ev := range runChatStream(t, req, file) {
				got, err := back.Event(ev.Type, ev.Data)
				if err != nil {
					t.Fatal(err)
				}
				chunks = append(chunks, got...)
			}
			want, got := accumulate(original), accumulate(chunks)
			if want.text != got.text || want.reasoning != got.reasoning || want.finish != got.finish || want.usage != got.usage ||
				len(want.calls) != len(got.calls) || !back.Done() {
				t.Fatalf("\nwant %+v\n got %+v", want, got)
			}
			for i := range want.calls {
				if want.calls[i] != got.calls[i] {
					t.Errorf("call %d: want %s got %s", i, want.calls[i], got.calls[i])
				}
			}
		})
	}
}

func TestStreamToChatReasoningParagraphs(t *testing.T) {
	s := responses.NewStreamToChat("m")
	var text string
	for _, ev := range []string{
		`{"type":"response.reasoning_summary_part.added","item_id":"rs","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}`,
		`{"type":"response.reasoning_summary_text.delta","item_id":"rs","output_index":0,"summary_index":0,"delta":"a"}`,
		`{"type":"response.reasoning_summary_part.added","item_id":"rs","output_index":0,"summary_index":1,"part":{"type":"summary_text","text":""}}`,
		`{"type":"response.reasoning_summary_text.delta","item_id":"rs","output_index":0,"summary_index":1,"delta":"b"}`,
	} {
		chunks, err := s.Event("", []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			text += c.Choices[0].Delta.ReasoningText
		}
	}
	if text != "a\n\nb" {
		t.Fatalf("reasoning %q", text)
	}
}
