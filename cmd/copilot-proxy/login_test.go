package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
	"github.com/copilot-proxy/copilot-proxy/githubtoken"
)

// driveClock is a manual clock that announces every wait, so the test can
// advance it by exactly that much: the device flow runs without sleeping.
type driveClock struct {
	*copilottest.Clock
	waits chan time.Duration
}

func newDriveClock() *driveClock {
	return &driveClock{Clock: copilottest.NewClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)), waits: make(chan time.Duration, 1000)}
}

func (c *driveClock) After(d time.Duration) <-chan time.Time {
	ch := c.Clock.After(d)
	c.waits <- d
	return ch
}

// loginEnv is an environment with a fresh config folder and the fake as
// both github.com and api.github.com.
func loginEnv(t *testing.T, fake *copilottest.Server) map[string]string {
	t.Helper()
	home := t.TempDir()
	return map[string]string{
		"HOME":                         home,
		"XDG_CONFIG_HOME":              filepath.Join(home, "config"),
		"COPILOT_PROXY_GITHUB_URL":     fake.URL(),
		"COPILOT_PROXY_GITHUB_API_URL": fake.URL(),
	}
}

type loginRun struct {
	stdout, stderr string
	waits          []time.Duration
	err            error
}

// driveLogin runs the login command, advancing the clock at every wait.
// onWait, if set, is called with the number of waits seen so far before
// the clock is advanced; returning false stops advancing (the test then
// cancels ctx itself).
func driveLogin(t *testing.T, ctx context.Context, env map[string]string, onWait func(n int) bool, args ...string) loginRun {
	t.Helper()
	clk := newDriveClock()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- loginWith(ctx, args, envMap(env), &stdout, &stderr, clk) }()
	var r loginRun
	advance := true
	for {
		select {
		case d := <-clk.waits:
			r.waits = append(r.waits, d)
			if advance && onWait != nil {
				advance = onWait(len(r.waits))
			}
			if advance {
				clk.Advance(d)
			}
		case r.err = <-done:
			r.stdout, r.stderr = stdout.String(), stderr.String()
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("login did not finish; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	}
}

// assertNoSecrets fails if the GitHub token, a Copilot token or a device
// code the fake handed out appears in any of texts.
func assertNoSecrets(t *testing.T, fake *copilottest.Server, texts ...string) {
	t.Helper()
	secrets := append(fake.IssuedTokens(), copilottest.GitHubToken)
	for _, r := range fake.RequestsTo("/login/oauth/access_token") {
		var body map[string]string
		if json.Unmarshal(r.Body, &body) == nil && body["device_code"] != "" {
			secrets = append(secrets, body["device_code"])
		}
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Fatalf("a secret appears in the output:\n%s", text)
			}
		}
	}
}

func savedPath(env map[string]string) string {
	return filepath.Join(env["XDG_CONFIG_HOME"], "copilot-proxy", "github-token")
}

func TestLoginSuccess(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	fake.SetDeviceFlow(copilottest.DeviceFlowConfig{UserCode: "ABCD-1234", Pending: 3, SlowDownAt: []int{2}})
	env := loginEnv(t, fake)
	path := savedPath(env)
	// An old, too-open token file and folder are replaced and tightened.
	writeFile(t, path, "ghu_old\n", 0o644)
	if err := os.Chmod(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}

	r := driveLogin(t, t.Context(), env, nil)
	if r.err != nil {
		t.Fatalf("login: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	for _, want := range []string{fake.URL() + "/login/device", "ABCD-1234", "expires in 15m0s",
		"Signed in to GitHub as octocat", copilottest.DefaultSKU, "Saved the GitHub token to " + path, "Next: copilot-proxy serve"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	// Progress: a dot per poll, and the slow-down said once, no control codes.
	if got := strings.Count(r.stderr, "."); got != 5 {
		t.Errorf("want 5 progress dots, got %d: %q", got, r.stderr)
	}
	if !strings.Contains(r.stderr, "slow down: checking every 10s") || strings.ContainsAny(r.stderr, "\r\x1b") {
		t.Errorf("progress %q", r.stderr)
	}
	// slow_down at poll 2 raised the interval from 5 s to 10 s.
	if want := "[5s 5s 10s 10s 10s]"; fmt.Sprint(r.waits) != want {
		t.Errorf("waits %v, want %s", r.waits, want)
	}
	if fake.DevicePolls() != 5 || fake.ExchangeCount() != 1 {
		t.Errorf("polls %d, exchanges %d", fake.DevicePolls(), fake.ExchangeCount())
	}

	b, err := os.ReadFile(path)
	if err != nil || string(b) != copilottest.GitHubToken+"\n" {
		t.Fatalf("saved file: %v (content matches: %v)", err, string(b) == copilottest.GitHubToken+"\n")
	}
	assertMode(t, path, 0o600)
	assertMode(t, filepath.Dir(path), 0o700)
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".github-token-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	assertNoSecrets(t, fake, r.stdout, r.stderr)

	// The requests used the client id default and asked for JSON.
	start := fake.RequestsTo("/login/device/code")
	if len(start) != 1 || !strings.Contains(string(start[0].Body), `"client_id":"Iv1.b507a08c87ecfe98"`) || start[0].Header.Get("Accept") != "application/json" {
		t.Errorf("start request: %s %v", start[0].Body, start[0].Header)
	}

	// findGitHubToken now picks the saved token.
	tok, warns, err := findGitHubToken(envMap(env), "")
	if err != nil || tok.Value != copilottest.GitHubToken || tok.Source.String() != "file "+path || len(warns) != 0 {
		t.Fatalf("findGitHubToken after login: source %q, %d warnings, %v", tok.Source, len(warns), err)
	}

	// logout removes it, and says so; a second logout finds none.
	var out strings.Builder
	if err := runLogout(t.Context(), nil, envMap(env), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Removed the saved GitHub token "+path) {
		t.Errorf("logout said %q", out.String())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("token file still there: %v", err)
	}
	out.Reset()
	if err := runLogout(t.Context(), nil, envMap(env), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "No saved GitHub token at "+path) {
		t.Errorf("second logout said %q", out.String())
	}
	if _, _, err := findGitHubToken(envMap(env), ""); !errors.Is(err, githubtoken.ErrNotFound) {
		t.Errorf("after logout: %v", err)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s: mode %04o, want %04o", path, got, want)
	}
}

func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func TestLoginFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(fake *copilottest.Server, env map[string]string)
		want  string
	}{
		{name: "expired_token", setup: func(f *copilottest.Server, _ map[string]string) {
			f.SetDeviceFlow(copilottest.DeviceFlowConfig{Pending: 2, Final: "expired_token"})
		}, want: "login failed: the code expired before it was entered; run `copilot-proxy login` again"},
		{name: "access_denied", setup: func(f *copilottest.Server, _ map[string]string) {
			f.SetDeviceFlow(copilottest.DeviceFlowConfig{Final: "access_denied"})
		}, want: "login failed: authorization was denied in the browser"},
		{name: "code lifetime over", setup: func(f *copilottest.Server, _ map[string]string) {
			f.SetDeviceFlow(copilottest.DeviceFlowConfig{ExpiresIn: 30, Pending: 1000})
		}, want: "the code expired before it was entered"},
		{name: "other OAuth error", setup: func(f *copilottest.Server, _ map[string]string) {
			f.SetDeviceFlow(copilottest.DeviceFlowConfig{Final: "device_flow_disabled"})
		}, want: "login failed: GitHub refused the device login (device_flow_disabled)"},
		{name: "exchange 401", setup: func(f *copilottest.Server, _ map[string]string) {
			f.FailExchange(http.StatusUnauthorized, "", 0)
		}, want: "rejected the new token (401)"},
		{name: "exchange 403 with GitHub's message", setup: func(f *copilottest.Server, _ map[string]string) {
			f.FailExchange(http.StatusForbidden, "", 0)
		}, want: "cannot use Copilot: no Copilot access for this GitHub account (403): Your account has been flagged"},
		{name: "GitHub unreachable", setup: func(_ *copilottest.Server, env map[string]string) {
			env["COPILOT_PROXY_GITHUB_URL"] = closedURL(t)
		}, want: "login failed: GitHub unreachable while starting the device login"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := copilottest.New(t)
			env := loginEnv(t, fake)
			tc.setup(fake, env)
			r := driveLogin(t, t.Context(), env, nil)
			if r.err == nil || !strings.Contains(r.err.Error(), tc.want) || strings.Contains(r.err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", r.err, tc.want)
			}
			if _, err := os.Stat(savedPath(env)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a token was saved after a failure (%v)", err)
			}
			assertNoSecrets(t, fake, r.stdout, r.stderr, r.err.Error())
		})
	}
}

func TestLoginTransientCheckStillSaves(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	fake.FailExchange(http.StatusBadGateway, "", 0)
	env := loginEnv(t, fake)
	r := driveLogin(t, t.Context(), env, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stderr, "warning: could not check the token") || !strings.Contains(r.stderr, "copilot-proxy status") {
		t.Errorf("stderr %q", r.stderr)
	}
	assertMode(t, savedPath(env), 0o600)
	assertNoSecrets(t, fake, r.stdout, r.stderr)
}

func TestLoginCtrlC(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	fake.SetDeviceFlow(copilottest.DeviceFlowConfig{Pending: 1000})
	env := loginEnv(t, fake)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := driveLogin(t, ctx, env, func(n int) bool {
		if n == 3 { // two polls answered pending; Ctrl-C during the third wait
			cancel()
			return false
		}
		return true
	})
	if !errors.Is(r.err, errLoginCancelled) || !strings.Contains(r.err.Error(), "login cancelled") {
		t.Fatalf("err = %v", r.err)
	}
	if _, err := os.Stat(savedPath(env)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a token was saved after Ctrl-C")
	}
	if fake.DevicePolls() != 2 {
		t.Errorf("polls %d", fake.DevicePolls())
	}
}

func TestLoginNotesAnOverridingSource(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	env := loginEnv(t, fake)
	env["GH_COPILOT_TOKEN"] = "ghu_from_env"
	env["COPILOT_PROXY_CLIENT_ID"] = "Iv1.custom"
	r := driveLogin(t, t.Context(), env, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stdout, "Note: serve takes the token from environment variable GH_COPILOT_TOKEN first") {
		t.Errorf("stdout %q", r.stdout)
	}
	if body := string(fake.RequestsTo("/login/device/code")[0].Body); !strings.Contains(body, `"client_id":"Iv1.custom"`) {
		t.Errorf("client id from the environment not used: %s", body)
	}
	// logout mentions the source that is left.
	var out strings.Builder
	if err := runLogout(t.Context(), nil, envMap(env), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Note: serve will still find a GitHub token in environment variable GH_COPILOT_TOKEN") {
		t.Errorf("logout said %q", out.String())
	}
	if strings.Contains(out.String(), "ghu_from_env") {
		t.Fatal("logout printed a token")
	}
}

func TestLoginBadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad github url", []string{"--github-url", "github.com"}, nil, "--github-url (COPILOT_PROXY_GITHUB_URL)"},
		{"bad api url from env", nil, map[string]string{"COPILOT_PROXY_GITHUB_API_URL": "ftp://x"}, "--github-api-url (COPILOT_PROXY_GITHUB_API_URL)"},
		{"empty client id", []string{"--client-id", " "}, nil, "--client-id"},
		{"stray argument", []string{"now"}, nil, "unexpected argument"},
		{"no home", nil, map[string]string{"HOME": "", "XDG_CONFIG_HOME": ""}, "set XDG_CONFIG_HOME or HOME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"HOME": t.TempDir()}
			for k, v := range tc.env {
				env[k] = v
			}
			err := runLogin(t.Context(), tc.args, envMap(env), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestServeUsesTheSavedToken(t *testing.T) {
	fake := copilottest.New(t)
	env := loginEnv(t, fake)
	if r := driveLogin(t, t.Context(), env, nil); r.err != nil {
		t.Fatal(r.err)
	}
	// Only the saved file: the variable startGateway sets is blanked.
	g := startGateway(t, fake, map[string]string{
		"COPILOT_PROXY_GITHUB_TOKEN": "",
		"XDG_CONFIG_HOME":            env["XDG_CONFIG_HOME"],
	})
	resp, err := g.client.Get(g.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("models: %d", resp.StatusCode)
	}
	if !strings.Contains(g.Logs.String(), `"source":"file `+savedPath(env)+`"`) {
		t.Errorf("serve did not log the saved file as its source:\n%s", g.Logs.String())
	}
	assertNoSecrets(t, fake, g.Logs.String())
}

func TestLoginCommandsHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"login", "logout", "status"} {
		var out strings.Builder
		if err := run(context.Background(), []string{cmd, "--help"}, envMap(nil), &out, io.Discard); err != nil {
			t.Fatalf("%s --help: %v", cmd, err)
		}
		if !strings.Contains(out.String(), "copilot-proxy "+cmd) {
			t.Errorf("%s --help: %q", cmd, out.String())
		}
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"help"}, envMap(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"login", "logout", "status"} {
		if !strings.Contains(out.String(), "copilot-proxy "+cmd) {
			t.Errorf("usage does not list %s:\n%s", cmd, out.String())
		}
	}
}

// writeFile writes content to path with mode, creating its folder.
func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
