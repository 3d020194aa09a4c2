package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	goopenai "github.com/sashabaranov/go-openai"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// responsesClient is the official openai-go client pointed at g.
func (g *testGateway) responsesClient() responses.ResponseService {
	c := openai.NewClient(option.WithBaseURL(g.URL+"/v1"), option.WithAPIKey("sk-client-secret-not-forwarded"),
		option.WithHTTPClient(g.client), option.WithMaxRetries(0))
	return c.Responses
}

var weatherTool = responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
	Name:        "get_weather",
	Description: openai.String("The weather in a city"),
	Parameters:  map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
	Strict:      openai.Bool(false),
}}

// TestResponsesSDK: openai-go's Responses client, non-stream and stream,
// for a model Copilot serves at /responses (passed through) and for one it
// serves only at /chat/completions (translated), with a function-call round
// trip on each.
func TestResponsesSDK(t *testing.T) {
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil)
	for _, model := range []string{"gpt-5-codex", "gpt-4o"} {
		t.Run(model, func(t *testing.T) {
			rs := g.responsesClient()
			ctx := t.Context()
			resp, err := rs.New(ctx, responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.OutputText() != copilottest.DefaultChatContent || resp.Status != "completed" || resp.Usage.InputTokens == 0 {
				t.Fatalf("non-stream: text %q status %q usage %+v", resp.OutputText(), resp.Status, resp.Usage)
			}
			text, completed := streamText(ctx, t, rs, model)
			if !strings.Contains(text, "chunk 0") || completed.Usage.OutputTokens == 0 || completed.OutputText() != text {
				t.Fatalf("stream: text %q, completed text %q usage %+v", text, completed.OutputText(), completed.Usage)
			}
			functionRoundTrip(ctx, t, rs, model)
		})
	}
	// The translated model went to chat, the native one to /responses.
	if n := len(fake.RequestsTo("/responses")); n == 0 {
		t.Error("no request reached Copilot's /responses")
	}
	for _, r := range fake.RequestsTo("/chat/completions") {
		if strings.Contains(string(r.Body), "gpt-5-codex") {
			t.Errorf("a gpt-5-codex request went to /chat/completions: %s", r.Body)
		}
	}
}

// streamText streams a turn and returns its text deltas joined and the
// response of response.completed.
func streamText(ctx context.Context, t *testing.T, rs responses.ResponseService, model string) (string, responses.Response) {
	t.Helper()
	stream := rs.NewStreaming(ctx, responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("count")}})
	defer stream.Close()
	var text strings.Builder
	var completed responses.Response
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.completed":
			completed = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v (events %v)", err, types)
	}
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"}
	for i, w := range want {
		if i >= len(types) || types[i] != w {
			t.Fatalf("events %v, want them to start with %v", types, want)
		}
	}
	if types[len(types)-1] != "response.completed" {
		t.Fatalf("events %v, want response.completed last", types)
	}
	return text.String(), completed
}

// functionRoundTrip asks for a tool call, then sends its output back.
func functionRoundTrip(ctx context.Context, t *testing.T, rs responses.ResponseService, model string) {
	t.Helper()
	ask := responses.ResponseInputItemParamOfMessage(copilottest.ToolTrigger+" get_weather in Paris", responses.EasyInputMessageRoleUser)
	resp, err := rs.New(ctx, responses.ResponseNewParams{Model: model, Tools: []responses.ToolUnionParam{weatherTool},
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{ask}}})
	if err != nil {
		t.Fatal(err)
	}
	var call responses.ResponseFunctionToolCall
	for _, it := range resp.Output {
		if it.Type == "function_call" {
			call = it.AsFunctionCall()
		}
	}
	if call.Name != "get_weather" || call.Arguments != copilottest.ToolCallArguments || call.CallID == "" {
		t.Fatalf("function call %+v in %+v", call, resp.Output)
	}
	out := responses.ResponseInputItemParamOfFunctionCallOutput("22 degrees")
	out.OfFunctionCallOutput.CallID = openai.String(call.CallID)
	resp, err = rs.New(ctx, responses.ResponseNewParams{Model: model, Tools: []responses.ToolUnionParam{weatherTool},
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			ask, responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name), out,
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.OutputText(); got != copilottest.ToolResultReply("22 degrees") {
		t.Fatalf("after the tool output: %q", got)
	}
}

// TestChatClientResponsesOnlyModel: a chat-completions client (go-openai)
// gets answers, streams and tool calls from a model Copilot serves only at
// /responses, translated both ways.
func TestChatClientResponsesOnlyModel(t *testing.T) {
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil)
	c := g.openai()
	ctx := t.Context()
	req := chatReq("hello")
	req.Model = "gpt-5-codex"
	resp, err := c.CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != copilottest.DefaultChatContent || resp.Usage.PromptTokens == 0 {
		t.Fatalf("non-stream: %+v", resp)
	}
	stream, err := c.CreateChatCompletionStream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for {
		chunk, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("stream: %v", err)
			}
			break
		}
		if len(chunk.Choices) > 0 {
			text.WriteString(chunk.Choices[0].Delta.Content)
		}
	}
	stream.Close()
	if !strings.Contains(text.String(), "chunk 0") {
		t.Fatalf("stream text %q", text.String())
	}
	req.Messages[0].Content = copilottest.ToolTrigger + " get_weather"
	req.Tools = []goopenai.Tool{{Type: goopenai.ToolTypeFunction, Function: &goopenai.FunctionDefinition{Name: "get_weather", Parameters: map[string]any{"type": "object"}}}}
	resp, err = c.CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	tc := resp.Choices[0].Message.ToolCalls
	if len(tc) != 1 || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != copilottest.ToolCallArguments || resp.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("tool call: %+v", resp.Choices[0])
	}
	if n := len(fake.RequestsTo("/responses")); n != 3 {
		t.Errorf("%d requests reached /responses, want 3", n)
	}
}
