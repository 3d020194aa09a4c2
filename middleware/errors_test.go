package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// TestWriteErrorShapes: the one error writer answers in the route's shape,
// with the status and the Anthropic type the SDKs map to typed errors.
func TestWriteErrorShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		shape func(http.Handler) http.Handler
		err   *api.Error
		want  string
	}{
		{"openai", func(h http.Handler) http.Handler { return h }, api.NewError(api.CodeInvalidAPIKey, "bad key"),
			`{"error":{"message":"bad key","type":"authentication_error","param":null,"code":"invalid_api_key"}}`},
		{"anthropic 401", ErrorShape(api.ShapeAnthropic), api.NewError(api.CodeInvalidAPIKey, "bad key"),
			`{"type":"error","error":{"type":"authentication_error","message":"bad key","code":"invalid_api_key"}}`},
		{"anthropic 429", ErrorShape(api.ShapeAnthropic), api.NewError(api.CodeRateLimitExceeded, "slow down"),
			`{"type":"error","error":{"type":"rate_limit_error","message":"slow down","code":"rate_limit_exceeded"}}`},
		{"anthropic 503", ErrorShape(api.ShapeAnthropic), api.NewError(api.CodeCopilotUnavailable, "no token"),
			`{"type":"error","error":{"type":"overloaded_error","message":"no token","code":"copilot_unavailable"}}`},
		{"anthropic 502", ErrorShape(api.ShapeAnthropic), api.NewError(api.CodeUpstreamError, "broke"),
			`{"type":"error","error":{"type":"api_error","message":"broke","code":"upstream_error"}}`},
		{"anthropic 400", ErrorShape(api.ShapeAnthropic), api.NewError(api.CodeInvalidJSON, "bad json"),
			`{"type":"error","error":{"type":"invalid_request_error","message":"bad json","code":"invalid_json"}}`},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h := Entries(tt.shape(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { WriteError(w, r, tt.err) })))
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/messages", nil))
		if rec.Code != tt.err.HTTPStatus() {
			t.Errorf("%s: status %d, want %d", tt.name, rec.Code, tt.err.HTTPStatus())
		}
		var got, want any
		if json.Unmarshal(rec.Body.Bytes(), &got) != nil || json.Unmarshal([]byte(tt.want), &want) != nil {
			t.Fatalf("%s: body %s is not JSON", tt.name, rec.Body)
		}
		if g, _ := json.Marshal(got); string(g) != mustCompact(t, tt.want) {
			t.Errorf("%s: body %s, want %s", tt.name, g, tt.want)
		}
	}
}

func mustCompact(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
