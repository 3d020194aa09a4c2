package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
)

func TestUpstreamError(t *testing.T) {
	t.Parallel()
	jsonH := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		wantStatus int
		wantCode   api.Code
		wantType   string
		wantMsg    string
		wantParam  string
	}{
		{"429 openai json keeps fields", 429, jsonH, `{"error":{"message":"Too many requests","type":"rate_limit_error","code":"rate_limited"}}`,
			429, "rate_limited", "rate_limit_error", "Too many requests", ""},
		{"429 empty with Retry-After", 429, http.Header{"Retry-After": {"12"}}, ``,
			429, api.CodeRateLimitExceeded, api.TypeRateLimit, "Copilot returned 429 Too Many Requests (retry after 12s)", ""},
		{"429 Retry-After as a date", 429, http.Header{"Retry-After": {"Wed, 21 Oct 2026 07:28:00 GMT"}}, ``,
			429, api.CodeRateLimitExceeded, api.TypeRateLimit, "Copilot returned 429 Too Many Requests (retry after Wed, 21 Oct 2026 07:28:00 GMT)", ""},
		{"400 keeps type code param", 400, jsonH, `{"error":{"message":"bad model","type":"invalid_request_error","code":"model_not_supported","param":"model"}}`,
			400, "model_not_supported", api.TypeInvalidRequest, "bad model", "model"},
		{"400 top-level message", 400, jsonH, `{"message":"missing Editor-Version header for IDE auth"}`,
			400, api.CodeInvalidRequest, api.TypeInvalidRequest, "missing Editor-Version header for IDE auth", ""},
		{"400 error as a string", 400, jsonH, `{"error":"prompt too long"}`,
			400, api.CodeInvalidRequest, api.TypeInvalidRequest, "prompt too long", ""},
		{"400 numeric code", 400, jsonH, `{"error":{"message":"x","code":400}}`,
			400, "400", api.TypeInvalidRequest, "x", ""},
		{"404 plain", 404, nil, `model not found`,
			404, api.CodeNotFound, api.TypeNotFound, "Copilot returned 404: model not found", ""},
		{"409 kept", 409, nil, ``, 409, api.CodeInvalidRequest, api.TypeInvalidRequest, "Copilot returned 409 Conflict", ""},
		{"413 kept", 413, jsonH, `{"error":{"message":"too big"}}`, 413, api.CodeBodyTooLarge, api.TypeInvalidRequest, "too big", ""},
		{"422 kept", 422, jsonH, `{"detail":"unprocessable tools"}`, 422, api.CodeInvalidRequest, api.TypeInvalidRequest, "unprocessable tools", ""},
		{"401 text is 502", 401, http.Header{"Content-Type": {"text/plain"}}, "unauthorized: token expired\n",
			502, api.CodeUpstreamError, api.TypeAPI, "Copilot returned 401: unauthorized: token expired", ""},
		{"403 json is 502 with message", 403, jsonH, `{"message":"Resource not accessible by integration"}`,
			502, api.CodeUpstreamError, api.TypeAPI, "Copilot returned 403: Resource not accessible by integration", ""},
		{"500 json not double-encoded", 500, jsonH, `{"error":{"message":"model overloaded","type":"server_error","code":"overloaded"}}`,
			502, api.CodeUpstreamError, api.TypeAPI, "Copilot returned 500: model overloaded", ""},
		{"502 html", 502, http.Header{"Content-Type": {"text/html; charset=utf-8"}}, "<html><head><title>502</title></head><body>bad</body></html>",
			502, api.CodeUpstreamError, api.TypeAPI, "Copilot returned 502 Bad Gateway", ""},
		{"503 html without content type", 503, nil, "\n  <!DOCTYPE html><html></html>",
			502, api.CodeUpstreamError, api.TypeAPI, "Copilot returned 503 Service Unavailable", ""},
		{"500 json without a message", 500, jsonH, `{"foo":"bar"}`,
			502, api.CodeUpstreamError, api.TypeAPI, "Copilot returned 500 Internal Server Error", ""},
		{"500 truncated json", 500, jsonH, `{"error":{"message":"cut`,
			502, api.CodeUpstreamError, api.TypeAPI, "Copilot returned 500 Internal Server Error", ""},
		{"500 multi-line text collapsed", 500, nil, "upstream\n\tconnect error\r\n",
			502, api.CodeUpstreamError, api.TypeAPI, "Copilot returned 500: upstream connect error", ""},
		{"500 binary", 500, nil, "\xff\xfe\x00garbage",
			502, api.CodeUpstreamError, api.TypeAPI, "Copilot returned 500 Internal Server Error", ""},
		{"302 is 502", 302, nil, ``, 502, api.CodeUpstreamError, api.TypeAPI, "Copilot returned 302 Found", ""},
		{"token in message redacted", 400, jsonH, `{"error":{"message":"bad header Authorization: Bearer tid=abc;exp=1;sku=x:deadbeefcafe"}}`,
			400, api.CodeInvalidRequest, api.TypeInvalidRequest, "bad header Authorization: Bearer [redacted]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := api.UpstreamError(tt.status, h, []byte(tt.body))
			if e.HTTPStatus() != tt.wantStatus || e.Code != tt.wantCode || e.Type != tt.wantType || e.Message != tt.wantMsg {
				t.Errorf("got %d %q %q %q\nwant %d %q %q %q", e.HTTPStatus(), e.Code, e.Type, e.Message,
					tt.wantStatus, tt.wantCode, tt.wantType, tt.wantMsg)
			}
			gotParam := ""
			if e.Param != nil {
				gotParam = *e.Param
			}
			if gotParam != tt.wantParam {
				t.Errorf("param = %q, want %q", gotParam, tt.wantParam)
			}
		})
	}
}

func TestUpstreamErrorBoundsLongText(t *testing.T) {
	t.Parallel()
	e := api.UpstreamError(500, http.Header{}, []byte(strings.Repeat("é", 5000)))
	if len(e.Message) > 600 || !strings.HasSuffix(e.Message, "…") {
		t.Errorf("message not bounded: %d bytes", len(e.Message))
	}
	if !strings.HasPrefix(e.Message, "Copilot returned 500: éé") {
		t.Errorf("message = %.40q", e.Message)
	}
}
