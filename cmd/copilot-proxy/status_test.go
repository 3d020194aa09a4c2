package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// statusEnv is an environment whose GitHub token is the fake's, taken from
// COPILOT_PROXY_GITHUB_TOKEN, with the fake as api.github.com.
func statusEnv(t *testing.T, fake *copilottest.Server) map[string]string {
	t.Helper()
	home := t.TempDir()
	return map[string]string{
		"HOME":                         home,
		"XDG_CONFIG_HOME":              filepath.Join(home, "config"),
		"COPILOT_PROXY_GITHUB_TOKEN":   copilottest.GitHubToken,
		"COPILOT_PROXY_GITHUB_API_URL": fake.URL(),
	}
}

func runStatusT(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr strings.Builder
	err := run(t.Context(), append([]string{"status"}, args...), envMap(env), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// statusJSON is what the tests read back from status --json.
type statusJSON struct {
	OK             bool   `json:"ok"`
	TokenSource    string `json:"token_source"`
	TokenEnv       string `json:"token_env"`
	TokenPath      string `json:"token_path"`
	Login          string `json:"login"`
	Plan           string `json:"plan"`
	SKU            string `json:"sku"`
	APIURL         string `json:"api_url"`
	APIURLFrom     string `json:"api_url_from"`
	TokenExpiresAt string `json:"token_expires_at"`
	Quota          *struct {
		Chat                *quotaJSON `json:"chat"`
		Completions         *quotaJSON `json:"completions"`
		PremiumInteractions *quotaJSON `json:"premium_interactions"`
		ResetDate           string     `json:"reset_date"`
	} `json:"quota"`
	Warnings []string `json:"warnings"`
	Error    string   `json:"error"`
}

type quotaJSON struct {
	Entitlement      *float64 `json:"entitlement"`
	Remaining        *float64 `json:"remaining"`
	PercentRemaining *float64 `json:"percent_remaining"`
	Unlimited        *bool    `json:"unlimited"`
}

func TestStatusJSON(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t, copilottest.WithEndpointsAPI("https://api.business.githubcopilot.com"))
	env := statusEnv(t, fake)
	before := time.Now()
	stdout, stderr, err := runStatusT(t, env, "--json")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, stderr)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	// The raw quota object has exactly the documented keys.
	var raw struct {
		Quota map[string]json.RawMessage `json:"quota"`
	}
	_ = json.Unmarshal([]byte(stdout), &raw)
	for _, k := range []string{"chat", "completions", "premium_interactions", "reset_date"} {
		if _, ok := raw.Quota[k]; !ok {
			t.Errorf("quota lacks %q: %s", k, stdout)
		}
	}
	if !st.OK || st.TokenSource != "env" || st.TokenEnv != "COPILOT_PROXY_GITHUB_TOKEN" || st.TokenPath != "" ||
		st.SKU != copilottest.DefaultSKU || st.Login != "octocat" || st.Plan != "business" ||
		st.APIURL != "https://api.business.githubcopilot.com" || st.APIURLFrom != "token" || st.Error != "" {
		t.Errorf("status %+v", st)
	}
	exp, err := time.Parse(time.RFC3339, st.TokenExpiresAt)
	if err != nil || exp.Before(before.Add(29*time.Minute)) || exp.After(time.Now().Add(31*time.Minute)) {
		t.Errorf("token_expires_at %q (%v)", st.TokenExpiresAt, err)
	}
	q := st.Quota
	if q == nil || q.PremiumInteractions == nil || q.Chat == nil || q.Completions == nil {
		t.Fatalf("quota %s", stdout)
	}
	if p := q.PremiumInteractions; *p.Entitlement != 300 || *p.Remaining != 120 || *p.PercentRemaining != 40 || *p.Unlimited {
		t.Errorf("premium %s", stdout)
	}
	if !*q.Chat.Unlimited || q.ResetDate != "2026-12-01" {
		t.Errorf("chat / reset date %s", stdout)
	}
	assertNoSecrets(t, fake, stdout, stderr)
}

func TestStatusTable(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	env := statusEnv(t, fake)
	// The token from the file login saves; the Copilot API set explicitly.
	delete(env, "COPILOT_PROXY_GITHUB_TOKEN")
	path := savedPath(env)
	writeFile(t, path, copilottest.GitHubToken+"\n", 0o600)
	stdout, stderr, err := runStatusT(t, env, "--copilot-api-url", fake.URL())
	if err != nil {
		t.Fatalf("status: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"GitHub token      file " + path,
		"account           octocat",
		"plan              business (sku " + copilottest.DefaultSKU + ")",
		"Copilot token     exchange works; expires ",
		"Copilot API       " + fake.URL() + " (--copilot-api-url)",
		"premium requests  120 of 300 left (40.0%)",
		"chat              unlimited",
		"completions       unlimited",
		"quota resets      2026-12-01",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	if stderr != "" {
		t.Errorf("stderr %q", stderr)
	}
	assertNoSecrets(t, fake, stdout, stderr)

	// JSON names the file.
	stdout, _, err = runStatusT(t, env, "--json", "--copilot-api-url", fake.URL())
	var st statusJSON
	if err != nil || json.Unmarshal([]byte(stdout), &st) != nil || st.TokenSource != "file" || st.TokenPath != path || st.APIURLFrom != "configured" {
		t.Fatalf("json: %v %s", err, stdout)
	}
}

func TestStatusFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(fake *copilottest.Server, env map[string]string)
		want  []string
	}{
		{name: "401 bad token", setup: func(f *copilottest.Server, _ map[string]string) { f.SetGitHubToken("ghu_rotated") },
			want: []string{"GitHub rejected the GitHub token from environment variable COPILOT_PROXY_GITHUB_TOKEN (401: Bad credentials)", "run `copilot-proxy login`"}},
		{name: "403 with GitHub's message", setup: func(f *copilottest.Server, _ map[string]string) { f.FailExchange(http.StatusForbidden, "", 0) },
			want: []string{"no Copilot access for this GitHub account (403): Your account has been flagged. Contact support to restore access. (https://github.com/contact)", "Copilot seat"}},
		{name: "404 token type", setup: func(f *copilottest.Server, _ map[string]string) { f.FailExchange(http.StatusNotFound, "", 0) },
			want: []string{"no Copilot for this GitHub token (404)", "run `copilot-proxy login`"}},
		{name: "unreachable", setup: func(_ *copilottest.Server, env map[string]string) { env["COPILOT_PROXY_GITHUB_API_URL"] = closedURL(t) },
			want: []string{"cannot reach GitHub at http://127.0.0.1:", "connection refused", "check the network, or --github-api-url (COPILOT_PROXY_GITHUB_API_URL)"}},
		{name: "5xx", setup: func(f *copilottest.Server, _ map[string]string) { f.FailExchange(http.StatusBadGateway, "", 0) },
			want: []string{"the Copilot token exchange failed: GitHub returned 502", "try again later"}},
		{name: "no token", setup: func(_ *copilottest.Server, env map[string]string) { delete(env, "COPILOT_PROXY_GITHUB_TOKEN") },
			want: []string{"no GitHub token found: run `copilot-proxy login`"}},
		{name: "endpoints.api not allowed", setup: func(f *copilottest.Server, _ map[string]string) { f.SetEndpointsAPI("https://evil.example.com") },
			want: []string{`refusing to send the Copilot token to endpoints.api "https://evil.example.com"`, "--copilot-api-url"}},
		{name: "quota answer unusable", setup: func(f *copilottest.Server, _ map[string]string) { f.SetUserJSON(`"nope"`) },
			want: []string{"the Copilot quota request failed: GitHub returned an unusable Copilot user answer"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := copilottest.New(t, copilottest.WithEndpointsAPI("https://api.githubcopilot.com"))
			env := statusEnv(t, fake)
			tc.setup(fake, env)
			for _, asJSON := range []bool{false, true} {
				var args []string
				if asJSON {
					args = []string{"--json"}
				}
				stdout, stderr, err := runStatusT(t, env, args...)
				if err == nil {
					t.Fatalf("json=%v: no error; stdout:\n%s", asJSON, stdout)
				}
				msg := err.Error()
				if strings.Contains(msg, "\n") {
					t.Errorf("not one line: %q", msg)
				}
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("json=%v: error %q lacks %q", asJSON, msg, w)
					}
				}
				if asJSON {
					var st statusJSON
					if e := json.Unmarshal([]byte(stdout), &st); e != nil || st.OK || st.Error != msg {
						t.Errorf("json on failure: %v %s", e, stdout)
					}
				}
				assertNoSecrets(t, fake, stdout, stderr, msg)
				if strings.Contains(stdout+stderr+msg, "ghu_rotated") {
					t.Fatal("token in output")
				}
			}
		})
	}
}

func TestStatusWarnsAboutReadableTokenFile(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	env := statusEnv(t, fake)
	delete(env, "COPILOT_PROXY_GITHUB_TOKEN")
	file := filepath.Join(t.TempDir(), "token")
	writeFile(t, file, copilottest.GitHubToken, 0o644)
	_, stderr, err := runStatusT(t, env, "--github-token-file", file, "--copilot-api-url", fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "warning: GitHub token file "+file+" is readable by other users") {
		t.Errorf("stderr %q", stderr)
	}
	stdout, _, _ := runStatusT(t, env, "--json", "--github-token-file", file, "--copilot-api-url", fake.URL())
	var st statusJSON
	if json.Unmarshal([]byte(stdout), &st) != nil || len(st.Warnings) != 1 || st.TokenPath != file {
		t.Errorf("json warnings: %s", stdout)
	}
}

func TestStatusBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--github-api-url", "nope"}, {"--copilot-api-url", "x"}, {"--json=maybe"}} {
		_, _, err := runStatusT(t, map[string]string{"HOME": t.TempDir()}, args...)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: err %v, want a usage error", args, err)
		}
	}
}

// TestStatusReadsServeConfig: with --config, status checks the token and
// GitHub that serve's config file names, so "status" answers for serve.
func TestStatusReadsServeConfig(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	home := t.TempDir()
	tokenFile := filepath.Join(home, "github-token")
	if err := os.WriteFile(tokenFile, []byte(copilottest.GitHubToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(home, "config.yaml")
	body := "addr: 0.0.0.0:9000\ngithub-api-url: " + fake.URL() + "\ncopilot-api-url: " + fake.URL() + "\ngithub-token-file: " + tokenFile + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "config")}
	out, _, err := runStatusT(t, env, "--json", "--config", cfg)
	var got statusJSON
	if jerr := json.Unmarshal([]byte(out), &got); err != nil || jerr != nil {
		t.Fatalf("status: %v %v\n%s", err, jerr, out)
	}
	if !got.OK || got.TokenSource != "file" || got.TokenPath != tokenFile {
		t.Errorf("status with --config = %+v, want the config's token file", got)
	}
	// A flag still wins over the file.
	_, _, err = runStatusT(t, env, "--config", cfg, "--github-api-url", "not a url")
	if !errors.Is(err, errUsage) {
		t.Errorf("a bad --github-api-url flag over the file: %v, want a usage error", err)
	}
}
