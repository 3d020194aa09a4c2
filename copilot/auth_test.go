package copilot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// testHTTPClient returns a client with its own transport whose idle
// connections are closed at the end of the test (goleak).
func testHTTPClient(t *testing.T) *http.Client {
	t.Helper()
	tr := copilot.NewBaseTransport(copilot.BaseTransportConfig{})
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestAuthExchangeSuccess(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t, copilottest.WithTokenLifetime(30*time.Minute, 25*time.Minute),
		copilottest.WithEndpointsAPI("https://api.business.githubcopilot.com"))
	ed := copilot.Editor{EditorVersion: "vscode/9.9.9", UserAgent: "Custom/1"} // others default
	a := copilot.NewAuth(testHTTPClient(t), s.URL()+"/", copilottest.GitHubToken, ed)

	before := time.Now()
	tok, err := a.Exchange(context.Background())
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if issued := s.IssuedTokens(); len(issued) != 1 || tok.Value != issued[0] {
		t.Fatalf("token value %q, issued %q", tok.Value, issued)
	}
	if d := tok.ExpiresAt.Sub(before); d < 29*time.Minute || d > 31*time.Minute {
		t.Fatalf("ExpiresAt %v is %v from now, want ~30m", tok.ExpiresAt, d)
	}
	if tok.RefreshIn != 25*time.Minute || tok.APIURL != "https://api.business.githubcopilot.com" || tok.SKU != copilottest.DefaultSKU {
		t.Fatalf("token = %v", tok)
	}

	reqs := s.RequestsTo("/copilot_internal/v2/token")
	if len(reqs) != 1 {
		t.Fatalf("%d exchange requests", len(reqs))
	}
	r := reqs[0]
	for name, want := range map[string]string{
		"Authorization":         "token " + copilottest.GitHubToken,
		"Accept":                "application/json",
		"Editor-Version":        "vscode/9.9.9",
		"Editor-Plugin-Version": copilot.DefaultPluginVersion,
		"User-Agent":            "Custom/1",
	} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if r.Method != http.MethodGet {
		t.Errorf("method %s", r.Method)
	}
}

func TestAuthExchangeRefreshInAbsent(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t, copilottest.WithTokenLifetime(10*time.Minute, -1))
	tok, err := copilot.NewAuth(testHTTPClient(t), s.URL(), copilottest.GitHubToken, copilot.DefaultEditor()).Exchange(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshIn != 0 || tok.APIURL != s.URL() {
		t.Fatalf("token = %v", tok)
	}
}

func TestAuthExchangeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		body       string
		wantKind   copilot.ErrorKind
		wantHard   bool
		wantMsg    string   // in ExchangeError.Message
		wantText   []string // in Error()
		rejectText []string // never in Error()
	}{
		{
			name: "401 bad credentials", status: 401, wantKind: copilot.KindBadToken, wantHard: true,
			wantMsg:  "Bad credentials",
			wantText: []string{"GitHub rejected the GitHub token (401 Bad credentials)", "COPILOT_PROXY_GITHUB_TOKEN"},
		},
		{
			name: "403 flagged account", status: 403, wantKind: copilot.KindNoAccess, wantHard: true,
			wantMsg:  "Your account has been flagged. Contact support to restore access. (https://github.com/contact)",
			wantText: []string{"no Copilot access for this GitHub account (403): Your account has been flagged"},
		},
		{
			name: "403 plain message", status: 403, body: `{"message":"Resource not accessible by integration"}`,
			wantKind: copilot.KindNoAccess, wantHard: true,
			wantMsg:  "Resource not accessible by integration",
			wantText: []string{"(403): Resource not accessible by integration"},
		},
		{
			name: "404", status: 404, wantKind: copilot.KindNoAccess, wantHard: true,
			wantMsg:  "Not Found",
			wantText: []string{"404", "ghu_"},
		},
		{
			name: "500 html", status: 500, wantKind: copilot.KindTransient,
			wantText:   []string{"GitHub returned 500 Internal Server Error"},
			rejectText: []string{"<html", "Service unavailable"},
		},
		{
			name: "502 json", status: 502, body: `{"message":"upstream hiccup"}`, wantKind: copilot.KindTransient,
			wantMsg: "upstream hiccup", wantText: []string{"GitHub returned 502 Bad Gateway on the token exchange: upstream hiccup"},
		},
		{
			name: "503 plain text", status: 503, body: "maintenance\nsecond line", wantKind: copilot.KindTransient,
			wantMsg: "maintenance", wantText: []string{"503", "maintenance"}, rejectText: []string{"second line"},
		},
		{
			name: "429", status: 429, body: `{"message":"slow down"}`, wantKind: copilot.KindTransient,
			wantMsg: "slow down",
		},
		{
			name: "message echoing the token is redacted", status: 401,
			body:     `{"message":"token ` + copilottest.GitHubToken + ` is bad"}`,
			wantKind: copilot.KindBadToken, wantHard: true, wantText: []string{"[redacted]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := copilottest.New(t)
			s.FailExchange(tt.status, tt.body, 1)
			_, err := copilot.NewAuth(testHTTPClient(t), s.URL(), copilottest.GitHubToken, copilot.DefaultEditor()).Exchange(context.Background())
			var ee *copilot.ExchangeError
			if !errors.As(err, &ee) {
				t.Fatalf("err = %v (%T), want *ExchangeError", err, err)
			}
			if ee.Kind != tt.wantKind || ee.Hard() != tt.wantHard || ee.Status != tt.status {
				t.Fatalf("kind %v hard %v status %d; want %v %v %d", ee.Kind, ee.Hard(), ee.Status, tt.wantKind, tt.wantHard, tt.status)
			}
			if tt.wantMsg != "" && ee.Message != tt.wantMsg {
				t.Errorf("Message = %q, want %q", ee.Message, tt.wantMsg)
			}
			text := err.Error()
			for _, w := range tt.wantText {
				if !strings.Contains(text, w) {
					t.Errorf("Error() = %q, want it to contain %q", text, w)
				}
			}
			for _, r := range append(tt.rejectText, copilottest.GitHubToken, "\n") {
				if strings.Contains(text, r) {
					t.Errorf("Error() = %q contains %q", text, r)
				}
			}
		})
	}
}

func TestAuthExchangeWrongGitHubToken(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	const bad = "ghu_notTheRightToken42"
	_, err := copilot.NewAuth(testHTTPClient(t), s.URL(), bad, copilot.DefaultEditor()).Exchange(context.Background())
	var ee *copilot.ExchangeError
	if !errors.As(err, &ee) || ee.Kind != copilot.KindBadToken {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), bad) {
		t.Fatalf("error contains the GitHub token: %q", err)
	}
}

func TestAuthExchangeBadOKAnswers(t *testing.T) {
	t.Parallel()
	future := time.Now().Add(time.Hour).Unix()
	tests := []struct {
		name string
		body string
		want string // in Error(); "" means success
	}{
		{"missing token", fmt.Sprintf(`{"expires_at":%d,"refresh_in":1500}`, future), `"token" is missing`},
		{"empty token", fmt.Sprintf(`{"token":"","expires_at":%d}`, future), `"token" is missing`},
		{"missing expires_at", `{"token":"tid=x","refresh_in":1500}`, `"expires_at" is missing`},
		{"zero expires_at", `{"token":"tid=x","expires_at":0}`, `"expires_at" is missing`},
		{"not JSON", `<html>hi</html>`, "not JSON"},
		{"float numbers and extra fields", fmt.Sprintf(`{"token":"tid=x","expires_at":%d.0,"refresh_in":1500.0,"individual":true,"endpoints":{"api":"https://api.githubcopilot.com","proxy":"p"}}`, future), ""},
		{"negative refresh_in ignored", fmt.Sprintf(`{"token":"tid=x","expires_at":%d,"refresh_in":-3}`, future), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			tok, err := copilot.NewAuth(testHTTPClient(t), srv.URL, copilottest.GitHubToken, copilot.DefaultEditor()).Exchange(context.Background())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Exchange: %v", err)
				}
				if tok.ExpiresAt.Unix() != future || tok.RefreshIn < 0 {
					t.Fatalf("token = %v", tok)
				}
				return
			}
			var ee *copilot.ExchangeError
			if !errors.As(err, &ee) || ee.Kind != copilot.KindTransient || ee.Hard() || ee.Status != 200 {
				t.Fatalf("err = %#v", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "unusable") {
				t.Fatalf("Error() = %q, want %q", err, tt.want)
			}
		})
	}
}

func TestAuthExchangeNetworkErrors(t *testing.T) {
	t.Parallel()
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close() // nothing listens there now
		_, err := copilot.NewAuth(testHTTPClient(t), url, copilottest.GitHubToken, copilot.DefaultEditor()).Exchange(context.Background())
		var ee *copilot.ExchangeError
		if !errors.As(err, &ee) || ee.Kind != copilot.KindTransient || ee.Status != 0 || ee.Err == nil || ee.Hard() {
			t.Fatalf("err = %#v", err)
		}
		if !strings.HasPrefix(err.Error(), "GitHub unreachable: ") || strings.Contains(err.Error(), copilottest.GitHubToken) {
			t.Fatalf("Error() = %q", err)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		t.Parallel()
		s := copilottest.New(t)
		s.SetExchangeLatency(time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(10 * time.Millisecond)
			cancel()
		}()
		_, err := copilot.NewAuth(testHTTPClient(t), s.URL(), copilottest.GitHubToken, copilot.DefaultEditor()).Exchange(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled in the chain", err)
		}
	})
}

func TestTokenRedaction(t *testing.T) {
	t.Parallel()
	const secret = "tid=supersecret;exp=1"
	tok := &copilot.Token{Value: secret, ExpiresAt: time.Unix(1764412345, 0), RefreshIn: 1500 * time.Second,
		APIURL: "https://api.githubcopilot.com", SKU: "sku1"}
	var logs logBuffer
	log := zerolog.New(&logs)
	log.Info().Object("token", tok).Msg("x")
	js, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	jsValue, err := json.Marshal(struct{ T copilot.Token }{*tok})
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"String":        tok.String(),
		"%v":            fmt.Sprintf("%v", tok),
		"%+v":           fmt.Sprintf("%+v", tok),
		"%#v":           fmt.Sprintf("%#v", tok),
		"%s of value":   fmt.Sprintf("%s", *tok),
		"%+v of struct": fmt.Sprintf("%+v", struct{ T copilot.Token }{*tok}),
		"JSON":          string(js),
		"JSON of value": string(jsValue),
		"zerolog":       logs.String(),
	} {
		if strings.Contains(out, "supersecret") {
			t.Errorf("%s leaks the token: %s", name, out)
		}
		if !strings.Contains(out, "2025-11-29") && !strings.Contains(out, "1764412345") {
			t.Errorf("%s lacks the expiry: %s", name, out)
		}
	}
	var nilTok *copilot.Token
	log.Info().Object("token", nilTok).Msg("nil is fine")
	_ = fmt.Sprint(nilTok)
}

func TestDefaultEditor(t *testing.T) {
	t.Parallel()
	want := copilot.Editor{
		EditorVersion: "vscode/1.104.3",
		PluginVersion: "copilot-chat/0.26.7",
		UserAgent:     "GitHubCopilotChat/0.26.7",
		IntegrationID: "vscode-chat",
		APIVersion:    "2025-04-01",
		OpenAIIntent:  "conversation-panel",
	}
	if got := copilot.DefaultEditor(); got != want {
		t.Fatalf("DefaultEditor() = %+v", got)
	}
}

func TestExchangeErrorKindString(t *testing.T) {
	t.Parallel()
	for k, want := range map[copilot.ErrorKind]string{
		copilot.KindTransient: "transient", copilot.KindBadToken: "bad_github_token",
		copilot.KindNoAccess: "no_copilot_access", copilot.ErrorKind(9): "ErrorKind(9)",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}
