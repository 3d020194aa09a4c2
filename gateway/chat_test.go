package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/gateway"
)

func TestChatNonStreamPassthrough(t *testing.T) {
	t.Parallel()
	// Unknown fields, tools, response_format and odd spacing must reach the
	// upstream byte for byte.
	reqBody := `{"model":"gpt-4o",  "messages":[{"role":"user","content":"hi"}],` +
		`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],` +
		`"response_format":{"type":"json_object"},"x_unknown":{"a":[1,2.50,null]}}`
	respBody := `{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",` +
		`"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]}}],` +
		`"copilot_references":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`
	up := &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
		h := jsonHeader()
		h.Set("Set-Cookie", "session=secret")
		h.Set("X-Quota-Snapshot-Premium_interactions", "ent=300&rem=29.7")
		h.Set("Connection", "close")
		h.Set("X-Github-Backend", "internal")
		return response(http.StatusOK, h, respBody), nil
	}}
	ts := start(t, up)

	resp, body := post(t, ts, "/v1/chat/completions", reqBody)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if string(body) != respBody {
		t.Errorf("client body changed:\n got %s\nwant %s", body, respBody)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength != int64(len(respBody)) {
		t.Errorf("Content-Length = %d, want %d", resp.ContentLength, len(respBody))
	}
	for _, h := range []string{"Set-Cookie", "X-Quota-Snapshot-Premium_interactions", "X-Github-Backend"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("upstream header %s leaked to the client: %q", h, v)
		}
	}
	calls := up.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d upstream calls", len(calls))
	}
	if got := string(calls[0].Body); got != reqBody {
		t.Errorf("upstream body changed:\n got %s\nwant %s", got, reqBody)
	}
}

func TestChatCallFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		body          string
		wantInitiator string
		wantVision    bool
		wantStream    bool
	}{
		{"user last", `{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}]}`, "user", false, false},
		{"assistant last", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"x"}]}`, "agent", false, false},
		{"tool last", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"1","content":"r"}]}`, "agent", false, false},
		{"image", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}]}`, "user", true, false},
		{"stream", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "user", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
				return response(http.StatusOK, jsonHeader(), `{}`), nil
			}}
			ts := start(t, up)
			resp, body := post(t, ts, "/chat/completions", tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			c := up.Calls()[0]
			if c.Method != http.MethodPost || c.Path != "/chat/completions" {
				t.Errorf("call = %s %s", c.Method, c.Path)
			}
			if c.Initiator != tt.wantInitiator || c.Vision != tt.wantVision || c.Stream != tt.wantStream {
				t.Errorf("call initiator=%q vision=%v stream=%v, want %q %v %v",
					c.Initiator, c.Vision, c.Stream, tt.wantInitiator, tt.wantVision, tt.wantStream)
			}
			if id := resp.Header.Get("X-Request-Id"); id == "" || c.RequestID != id {
				t.Errorf("call RequestID %q, response X-Request-Id %q", c.RequestID, id)
			}
		})
	}
}

func TestChatBadRequests(t *testing.T) {
	t.Parallel()
	up := &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(http.StatusOK, jsonHeader(), `{}`), nil
	}}
	ts := start(t, up, withConfig(gateway.Config{MaxBody: 1 << 10}))
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	big := `{"model":"m",` + msgs + `,"pad":"` + strings.Repeat("x", 4<<10) + `"}`
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
		param       string
	}{
		{"invalid JSON", "application/json", `{"model":`, 400, "invalid_json", ""},
		{"empty body", "application/json", ``, 400, "invalid_json", ""},
		{"not an object", "application/json", `["model"]`, 400, "invalid_request_error", ""},
		{"missing model", "application/json", `{` + msgs + `}`, 400, "missing_required_parameter", "model"},
		{"model not a string", "application/json", `{"model":5,` + msgs + `}`, 400, "invalid_request_error", "model"},
		{"missing messages", "application/json", `{"model":"m"}`, 400, "missing_required_parameter", "messages"},
		{"messages not an array", "application/json", `{"model":"m","messages":"hi"}`, 400, "invalid_request_error", "messages"},
		{"text/plain", "text/plain", `{"model":"m",` + msgs + `}`, 415, "unsupported_media_type", ""},
		{"form (curl -d)", "application/x-www-form-urlencoded", `{"model":"m",` + msgs + `}`, 415, "unsupported_media_type", ""},
		{"malformed content type", "application/", `{"model":"m",` + msgs + `}`, 415, "unsupported_media_type", ""},
		{"over the limit", "application/json", big, 413, "request_too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := do(t, ts, http.MethodPost, "/v1/chat/completions", tt.contentType, tt.body)
			e := wantEnvelope(t, resp, body, tt.status, tt.code)
			if tt.param != "" && (e.Error.Param == nil || *e.Error.Param != tt.param) {
				t.Errorf("param = %v, want %q", e.Error.Param, tt.param)
			}
		})
	}
	if n := len(up.Calls()); n != 0 {
		t.Errorf("%d upstream calls for bad requests", n)
	}
}

func TestChatAcceptsJSONContentTypes(t *testing.T) {
	t.Parallel()
	up := &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(http.StatusOK, jsonHeader(), `{}`), nil
	}}
	ts := start(t, up)
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"} {
		resp, body := do(t, ts, http.MethodPost, "/v1/chat/completions", ct, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Content-Type %q: status %d: %s", ct, resp.StatusCode, body)
		}
	}
}

// A chunked body (no Content-Length) over the limit is caught while reading.
func TestChatChunkedBodyOverLimit(t *testing.T) {
	t.Parallel()
	up := &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(http.StatusOK, jsonHeader(), `{}`), nil
	}}
	ts := start(t, up, withConfig(gateway.Config{MaxBody: 1 << 10}))
	body := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 4<<10) + `"}]}`
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/chat/completions", io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > 0 && req.ContentLength != 0 {
		t.Fatalf("request was not chunked")
	}
	b, _ := io.ReadAll(resp.Body)
	wantEnvelope(t, resp, b, http.StatusRequestEntityTooLarge, "request_too_large")
	if len(up.Calls()) != 0 {
		t.Error("upstream called")
	}
}

func TestChatUpstreamErrors(t *testing.T) {
	t.Parallel()
	type result struct {
		status     int
		header     http.Header
		body       string
		err        error
		wantStatus int
		wantCode   string
		wantType   string
		wantMsg    string // exact message, or "" to skip
		wantHeader map[string]string
	}
	tests := map[string]result{
		"429 keeps Retry-After": {
			status: 429, header: http.Header{"Content-Type": {"application/json"}, "Retry-After": {"7"}, "Retry-After-Ms": {"7000"}},
			body:       `{"error":{"message":"Rate limit exceeded","type":"rate_limit_error","code":"rate_limited"}}`,
			wantStatus: 429, wantCode: "rate_limited", wantType: "rate_limit_error", wantMsg: "Rate limit exceeded",
			wantHeader: map[string]string{"Retry-After": "7", "Retry-After-Ms": "7000"},
		},
		"429 without body": {
			status: 429, header: http.Header{"Retry-After": {"30"}},
			wantStatus: 429, wantCode: "rate_limit_exceeded", wantMsg: "Copilot returned 429 Too Many Requests (retry after 30s)",
			wantHeader: map[string]string{"Retry-After": "30"},
		},
		"400 kept with upstream fields": {
			status: 400, header: jsonHeader(),
			body:       `{"error":{"message":"The requested model is not supported.","code":"model_not_supported","param":"model","type":"invalid_request_error"}}`,
			wantStatus: 400, wantCode: "model_not_supported", wantType: "invalid_request_error", wantMsg: "The requested model is not supported.",
		},
		"422 kept": {
			status: 422, header: jsonHeader(), body: `{"message":"bad tools"}`,
			wantStatus: 422, wantCode: "invalid_request_error", wantMsg: "bad tools",
		},
		"5xx JSON is 502 with the upstream message, not nested JSON": {
			status: 500, header: jsonHeader(), body: `{"error":{"message":"model overloaded","type":"server_error"}}`,
			wantStatus: 502, wantCode: "upstream_error", wantType: "api_error", wantMsg: "Copilot returned 500: model overloaded",
		},
		"HTML is a clean message": {
			status: 502, header: http.Header{"Content-Type": {"text/html"}}, body: "<html><body><h1>502 Bad Gateway</h1></body></html>",
			wantStatus: 502, wantCode: "upstream_error", wantMsg: "Copilot returned 502 Bad Gateway",
		},
		"401 text is 502": {
			status: 401, header: http.Header{"Content-Type": {"text/plain"}}, body: "unauthorized: token expired\n",
			wantStatus: 502, wantCode: "upstream_error", wantMsg: "Copilot returned 401: unauthorized: token expired",
		},
		"403 is 502": {
			status: 403, body: "Forbidden",
			wantStatus: 502, wantCode: "upstream_error", wantMsg: "Copilot returned 403: Forbidden",
		},
		"no token": {
			err:        &copilot.UnavailableError{Cause: errors.New("the GitHub token was rejected (401); set COPILOT_PROXY_GITHUB_TOKEN")},
			wantStatus: 503, wantCode: "copilot_unavailable",
			wantMsg: "Copilot is unavailable: no valid Copilot token: the GitHub token was rejected (401); set COPILOT_PROXY_GITHUB_TOKEN",
		},
		"no token, wrapped": {
			err:        fmt.Errorf("sending: %w", &copilot.UnavailableError{Cause: errors.New("no Copilot access for this account")}),
			wantStatus: 503, wantCode: "copilot_unavailable", wantMsg: "Copilot is unavailable: no valid Copilot token: no Copilot access for this account",
		},
		"endpoint refused": {
			err:        &copilot.UnavailableError{Cause: &copilot.HostNotAllowedError{URL: "https://evil.example", Reason: "host \"evil.example\" is not in the allow-list"}},
			wantStatus: 503, wantCode: "copilot_unavailable",
			wantMsg: `Copilot is unavailable: no allowed Copilot endpoint: refusing to send the Copilot token to "https://evil.example": host "evil.example" is not in the allow-list; set --copilot-api-url to choose the Copilot API explicitly`,
		},
		"redirect": {
			err:        &copilot.RedirectError{Status: http.StatusFound},
			wantStatus: 502, wantCode: "upstream_error",
			wantMsg: "could not reach Copilot: the upstream answered 302 Found (a redirect); redirects are not followed",
		},
		"timeout error": {
			err:        &url.Error{Op: "Post", URL: "https://api.githubcopilot.com/chat/completions", Err: timeoutError{}},
			wantStatus: 504, wantCode: "upstream_timeout", wantMsg: "Copilot did not answer within the upstream timeout",
		},
		"deadline exceeded": {
			err:        fmt.Errorf("waiting for headers: %w", context.DeadlineExceeded),
			wantStatus: 504, wantCode: "upstream_timeout",
		},
		"generic error": {
			err:        &url.Error{Op: "Post", URL: "https://api.githubcopilot.com/chat/completions", Err: errBoom},
			wantStatus: 502, wantCode: "upstream_error", wantMsg: "could not reach Copilot: connection reset by peer",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
				if tt.err != nil {
					return nil, tt.err
				}
				return response(tt.status, tt.header, tt.body), nil
			}}
			ts := start(t, up)
			resp, body := post(t, ts, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
			e := wantEnvelope(t, resp, body, tt.wantStatus, tt.wantCode)
			if tt.wantType != "" && e.Error.Type != tt.wantType {
				t.Errorf("type = %q, want %q", e.Error.Type, tt.wantType)
			}
			if tt.wantMsg != "" && e.Error.Message != tt.wantMsg {
				t.Errorf("message = %q, want %q", e.Error.Message, tt.wantMsg)
			}
			if strings.Contains(e.Error.Message, "{") || strings.Contains(e.Error.Message, "<") {
				t.Errorf("message carries markup: %q", e.Error.Message)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
