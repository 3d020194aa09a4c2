package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

func TestFindGitHubTokenOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "config")
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, "  ghu_fromfile\n", 0o600)
	writeFile(t, filepath.Join(cfgDir, "copilot-proxy", "github-token"), "ghu_saved\n", 0o600)
	writeFile(t, filepath.Join(cfgDir, "github-copilot", "hosts.json"), `{"github.com":{"user":"octo","oauth_token":"ghu_hosts"}}`, 0o600)
	writeFile(t, filepath.Join(cfgDir, "github-copilot", "apps.json"), `{"github.com:Iv1.b507a08c87ecfe98":{"user":"octo","oauth_token":"ghu_apps"}}`, 0o600)

	full := map[string]string{
		"COPILOT_PROXY_GITHUB_TOKEN": "ghu_env",
		"GH_COPILOT_TOKEN":           "ghu_gh",
		"GITHUB_COPILOT_TOKEN":       "ghu_github",
		"XDG_CONFIG_HOME":            cfgDir,
	}
	tests := []struct {
		name      string
		drop      []string
		file      string
		rmFiles   []string
		wantToken string
		wantSrc   string
	}{
		{name: "env first", file: tokenFile, wantToken: "ghu_env", wantSrc: "environment variable COPILOT_PROXY_GITHUB_TOKEN"},
		{name: "token file second, trimmed", drop: []string{"COPILOT_PROXY_GITHUB_TOKEN"}, file: tokenFile, wantToken: "ghu_fromfile", wantSrc: "file " + tokenFile},
		{name: "GH_COPILOT_TOKEN", drop: []string{"COPILOT_PROXY_GITHUB_TOKEN"}, wantToken: "ghu_gh", wantSrc: "environment variable GH_COPILOT_TOKEN"},
		{name: "GITHUB_COPILOT_TOKEN", drop: []string{"COPILOT_PROXY_GITHUB_TOKEN", "GH_COPILOT_TOKEN"}, wantToken: "ghu_github", wantSrc: "environment variable GITHUB_COPILOT_TOKEN"},
		{name: "saved login file", drop: []string{"COPILOT_PROXY_GITHUB_TOKEN", "GH_COPILOT_TOKEN", "GITHUB_COPILOT_TOKEN"}, wantToken: "ghu_saved", wantSrc: "file " + filepath.Join(cfgDir, "copilot-proxy", "github-token")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range full {
				env[k] = v
			}
			for _, k := range tt.drop {
				delete(env, k)
			}
			tok, src, _, err := findGitHubToken(envMap(env), tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if tok != tt.wantToken || src.String() != tt.wantSrc {
				t.Fatalf("got %q from %q, want %q from %q", tok, src, tt.wantToken, tt.wantSrc)
			}
		})
	}
}

func TestFindGitHubTokenEditorFiles(t *testing.T) {
	t.Parallel()
	cfgDir := t.TempDir()
	env := envMap(map[string]string{"XDG_CONFIG_HOME": cfgDir})
	if _, _, _, err := findGitHubToken(env, ""); err != errNoGitHubToken {
		t.Fatalf("want errNoGitHubToken, got %v", err)
	}
	apps := filepath.Join(cfgDir, "github-copilot", "apps.json")
	writeFile(t, apps, `{"github.com:Iv1.other":{"oauth_token":"ghu_other"},"github.com:Iv1.b507a08c87ecfe98":{"oauth_token":"ghu_apps"}}`, 0o600)
	tok, src, _, err := findGitHubToken(env, "")
	if err != nil || tok != "ghu_apps" || src.Name != apps {
		t.Fatalf("apps.json: %q %v %v", tok, src, err)
	}
	hosts := filepath.Join(cfgDir, "github-copilot", "hosts.json")
	writeFile(t, hosts, `{"github.com":{"oauth_token":"ghu_hosts"}}`, 0o600)
	tok, src, _, err = findGitHubToken(env, "")
	if err != nil || tok != "ghu_hosts" || src.Name != hosts {
		t.Fatalf("hosts.json preferred: %q %v %v", tok, src, err)
	}
	writeFile(t, hosts, `{not json`, 0o600)
	if _, _, _, err := findGitHubToken(env, ""); err == nil || !strings.Contains(err.Error(), hosts) {
		t.Fatalf("corrupt hosts.json: %v", err)
	}
}

func TestFindGitHubTokenHomeFallback(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".config", "github-copilot", "hosts.json"), `{"github.com":{"oauth_token":"ghu_home"}}`, 0o600)
	tok, _, _, err := findGitHubToken(envMap(map[string]string{"HOME": home}), "")
	if err != nil || tok != "ghu_home" {
		t.Fatalf("got %q, %v", tok, err)
	}
}

func TestReadTokenFileProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, " \n", 0o600)
	multi := filepath.Join(dir, "multi")
	writeFile(t, multi, "ghu_a\nghu_b\n", 0o600)
	open := filepath.Join(dir, "open")
	writeFile(t, open, "ghu_secretvalue\n", 0o644)

	for _, tt := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "does not exist"},
		{empty, "is empty"},
		{multi, "only the token"},
		{dir, "is a directory"},
	} {
		_, _, err := readTokenFile(tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("readTokenFile(%s) = %v, want error containing %q and the path", tt.path, err, tt.want)
		}
	}
	tok, warns, err := readTokenFile(open)
	if err != nil || tok != "ghu_secretvalue" {
		t.Fatalf("world-readable file should still work: %q %v", tok, err)
	}
	if len(warns) != 1 || !strings.Contains(string(warns[0]), "chmod 600") || strings.Contains(string(warns[0]), "ghu_secretvalue") {
		t.Fatalf("want one chmod warning without the token, got %v", warns)
	}
	// An explicitly configured file that fails is an error, not a fall-through.
	if _, _, _, err := findGitHubToken(envMap(map[string]string{"GH_COPILOT_TOKEN": "ghu_x"}), empty); err == nil {
		t.Fatal("a broken explicit token file must be an error")
	}
}
