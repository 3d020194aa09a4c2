package gateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"
)

// sdkClient points the go-openai SDK at the gateway.
func sdkClient(baseURL string, hc *http.Client) *openai.Client {
	cfg := openai.DefaultConfig("unused-client-key")
	cfg.BaseURL = baseURL + "/v1"
	cfg.HTTPClient = hc
	return openai.NewClientWithConfig(cfg)
}

func TestSDKModelsAndChat(t *testing.T) {
	t.Parallel()
	chatAnswer := `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"finish_reason":"tool_calls",` +
		`"message":{"role":"assistant","content":"","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}],` +
		`"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`
	up := &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
		switch call.Path {
		case "/models":
			return response(200, jsonHeader(), copilotModels), nil
		case "/chat/completions":
			if strings.Contains(string(call.Body), "fail-please") {
				return response(400, jsonHeader(), `{"error":{"message":"The requested model is not supported.","code":"model_not_supported","param":"model","type":"invalid_request_error"}}`), nil
			}
			return response(200, jsonHeader(), chatAnswer), nil
		}
		return nil, errors.New("unexpected path")
	}}
	ts := start(t, up)
	client := sdkClient(ts.URL, ts.Client())
	ctx := context.Background()

	list, err := client.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Models) != 4 || list.Models[0].ID != "gpt-4o" || list.Models[0].OwnedBy != "azure-openai" || list.Models[0].Object != "model" {
		t.Errorf("models = %+v", list.Models)
	}
	m, err := client.GetModel(ctx, "claude-sonnet-4.5")
	if err != nil || m.ID != "claude-sonnet-4.5" || m.OwnedBy != "anthropic" {
		t.Errorf("GetModel = %+v, %v", m, err)
	}

	req := openai.ChatCompletionRequest{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: "weather?"}},
		Tools: []openai.Tool{{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{
			Name: "get_weather", Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		}}},
	}
	resp, err := client.CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	tc := resp.Choices[0].Message.ToolCalls
	if len(tc) != 1 || tc[0].ID != "call_1" || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != `{"city":"Paris"}` {
		t.Errorf("tool calls = %+v", tc)
	}
	if c := up.Calls(); !strings.Contains(string(c[len(c)-1].Body), `"get_weather"`) {
		t.Errorf("tools not forwarded: %s", c[len(c)-1].Body)
	}

	// A listed model the upstream refuses (the marker is in the content: an
	// unlisted model would be refused by the gateway itself).
	req.Messages[0].Content = "fail-please"
	_, err = client.CreateChatCompletion(ctx, req)
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %T %v is not an *openai.APIError", err, err)
	}
	if apiErr.HTTPStatusCode != 400 || apiErr.Message != "The requested model is not supported." || apiErr.Code != "model_not_supported" {
		t.Errorf("APIError = %+v", apiErr)
	}
}

func TestSDKStream(t *testing.T) {
	t.Parallel()
	up := newPipeUpstream()
	ts := start(t, up)
	client := sdkClient(ts.URL, ts.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	defer cancel()

	stream, err := client.CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{
		Model:    "gpt-4o",
		Stream:   true,
		Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: "hi"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()

	recv := func() (string, error) {
		type res struct {
			s   string
			err error
		}
		ch := make(chan res, 1)
		go func() {
			r, err := stream.Recv()
			if err != nil {
				ch <- res{"", err}
				return
			}
			if len(r.Choices) == 0 {
				ch <- res{"<no choices>", nil}
				return
			}
			ch <- res{r.Choices[0].Delta.Content, nil}
		}()
		select {
		case r := <-ch:
			return r.s, r.err
		case <-ctx.Done():
			t.Fatal("no chunk within the wait limit")
			return "", nil
		}
	}

	up.write(t, "data: {\"id\":\"1\",\"choices\":[],\"prompt_filter_results\":[]}\n\n")
	// The upstream pauses after each chunk: each must reach the SDK alone.
	if got, err := recv(); err != nil || got != "<no choices>" {
		t.Fatalf("chunk 1 = %q, %v", got, err)
	}
	up.write(t, "data: {\"id\":\"1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n")
	if got, err := recv(); err != nil || got != "Hel" {
		t.Fatalf("chunk 2 = %q, %v", got, err)
	}
	up.write(t, "data: {\"id\":\"1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n")
	if got, err := recv(); err != nil || got != "lo" {
		t.Fatalf("chunk 3 = %q, %v", got, err)
	}
	if _, err := recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after [DONE]: %v, want io.EOF", err)
	}
}
