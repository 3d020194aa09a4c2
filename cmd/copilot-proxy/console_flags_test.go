package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

const consoleFlagsAdmin = "console-flags-admin-token-0123456789"

// TestConsoleFlags: --console-session sets the sign-in's lifetime, and
// --console=false takes the console (and the cookie on /admin) away while
// the admin API keeps taking the bearer token.
func TestConsoleFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"COPILOT_PROXY_NO_AUTH": "", "COPILOT_PROXY_ADMIN_TOKEN": consoleFlagsAdmin}

	on := startGateway(t, copilottest.New(t), env, "--console-session", "90m")
	resp, body := on.do(t, http.MethodPost, "/console/api/session", `{"token":"`+consoleFlagsAdmin+`"}`, "Content-Type", "application/json")
	cks := resp.Cookies()
	if resp.StatusCode != http.StatusOK || len(cks) != 1 || cks[0].MaxAge != int((90*time.Minute)/time.Second) {
		t.Fatalf("sign-in with --console-session 90m: %d %s, cookies %+v", resp.StatusCode, body, cks)
	}

	off := startGateway(t, copilottest.New(t), env, "--console=false")
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, "/console/", ""},
		{http.MethodPost, "/console/api/session", `{"token":"` + consoleFlagsAdmin + `"}`},
	} {
		if resp, body := off.do(t, c.method, c.path, c.body, "Content-Type", "application/json"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("--console=false: %s %s = %d %s, want 404", c.method, c.path, resp.StatusCode, body)
		}
	}
	if resp, body := off.do(t, http.MethodGet, "/admin/keys", "", "Authorization", "Bearer "+consoleFlagsAdmin); resp.StatusCode != http.StatusOK {
		t.Errorf("--console=false: /admin/keys with the admin token = %d %s", resp.StatusCode, body)
	}
}

func TestConsoleSessionFlagChecked(t *testing.T) {
	t.Parallel()
	var out, errOut syncBuffer
	err := run(t.Context(), []string{"serve", "--console-session", "10s"}, envMap(map[string]string{"HOME": t.TempDir()}), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "console-session") {
		t.Errorf("--console-session 10s: %v, want an error naming the flag", err)
	}
}
