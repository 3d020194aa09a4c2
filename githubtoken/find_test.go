package githubtoken

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// editorApp is the editor plugins' OAuth app (copilot.DefaultClientID),
// which callers pass as Options.EditorClientID.
const editorApp = "Iv1.b507a08c87ecfe98"

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

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

func TestFindOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "config")
	tokenFile := filepath.Join(dir, "token")
	saved := filepath.Join(cfgDir, "copilot-proxy", "github-token")
	hosts := filepath.Join(cfgDir, "github-copilot", "hosts.json")
	apps := filepath.Join(cfgDir, "github-copilot", "apps.json")
	writeFile(t, tokenFile, "  ghu_fromfile\n", 0o600)
	writeFile(t, saved, "ghu_saved\n", 0o600)
	writeFile(t, hosts, `{"github.com":{"user":"octo","oauth_token":"ghu_hosts"}}`, 0o600)
	writeFile(t, apps, `{"github.com:Iv1.b507a08c87ecfe98":{"user":"octo","oauth_token":"ghu_apps"}}`, 0o600)

	full := map[string]string{
		"COPILOT_PROXY_GITHUB_TOKEN": "ghu_env",
		"GH_COPILOT_TOKEN":           "ghu_gh",
		"GITHUB_COPILOT_TOKEN":       "ghu_github",
		"XDG_CONFIG_HOME":            cfgDir,
	}
	allEnv := []string{"COPILOT_PROXY_GITHUB_TOKEN", "GH_COPILOT_TOKEN", "GITHUB_COPILOT_TOKEN"}
	tests := []struct {
		name      string
		drop      []string
		blank     []string // set to spaces: counts as unset
		file      string
		wantToken string
		wantSrc   Source
		wantStr   string
	}{
		{name: "env first", file: tokenFile, wantToken: "ghu_env", wantSrc: Source{KindEnv, "COPILOT_PROXY_GITHUB_TOKEN"}, wantStr: "environment variable COPILOT_PROXY_GITHUB_TOKEN"},
		{name: "token file second, trimmed", drop: allEnv[:1], file: tokenFile, wantToken: "ghu_fromfile", wantSrc: Source{KindFile, tokenFile}, wantStr: "file " + tokenFile},
		{name: "blank variable is unset", blank: allEnv[:1], file: tokenFile, wantToken: "ghu_fromfile", wantSrc: Source{KindFile, tokenFile}, wantStr: "file " + tokenFile},
		{name: "GH_COPILOT_TOKEN", drop: allEnv[:1], wantToken: "ghu_gh", wantSrc: Source{KindEnv, "GH_COPILOT_TOKEN"}, wantStr: "environment variable GH_COPILOT_TOKEN"},
		{name: "GITHUB_COPILOT_TOKEN", drop: allEnv[:2], wantToken: "ghu_github", wantSrc: Source{KindEnv, "GITHUB_COPILOT_TOKEN"}, wantStr: "environment variable GITHUB_COPILOT_TOKEN"},
		{name: "saved login file", drop: allEnv, wantToken: "ghu_saved", wantSrc: Source{KindFile, saved}, wantStr: "file " + saved},
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
			for _, k := range tt.blank {
				env[k] = " \t"
			}
			tok, warns, err := Find(Options{Getenv: envMap(env), File: tt.file, EditorClientID: editorApp})
			if err != nil || len(warns) != 0 {
				t.Fatalf("Find: %v, warnings %v", err, warns)
			}
			if tok.Value != tt.wantToken || tok.Source != tt.wantSrc || tok.Source.String() != tt.wantStr {
				t.Fatalf("got %q from %q, want %q from %q", tok.Value, tok.Source, tt.wantToken, tt.wantStr)
			}
		})
	}
}

func TestFindEditorFiles(t *testing.T) {
	t.Parallel()
	tests := []editorCase{
		{name: "none", wantErr: "no GitHub token found"},
		{name: "editor app preferred in apps.json", clientID: editorApp,
			apps:      `{"github.com:Iv1.aaa":{"oauth_token":"ghu_other"},"github.com:Iv1.b507a08c87ecfe98":{"oauth_token":"ghu_apps"}}`,
			wantToken: "ghu_apps", wantFile: "apps.json"},
		{name: "without a preferred app, the first by name", clientID: "",
			apps:      `{"github.com:Iv1.zzz":{"oauth_token":"ghu_z"},"github.com:Iv1.aaa":{"oauth_token":"ghu_a"}}`,
			wantToken: "ghu_a", wantFile: "apps.json"},
		{name: "other hosts and empty tokens skipped", clientID: editorApp,
			apps:      `{"ghe.example.com:Iv1.aaa":{"oauth_token":"ghu_ghe"},"github.com:Iv1.b507a08c87ecfe98":{"oauth_token":" "},"github.com:Iv1.zzz":{"oauth_token":"ghu_z"}}`,
			wantToken: "ghu_z", wantFile: "apps.json"},
		{name: "hosts.json before apps.json", clientID: editorApp,
			hosts:     `{"github.com":{"oauth_token":"ghu_hosts"}}`,
			apps:      `{"github.com:Iv1.b507a08c87ecfe98":{"oauth_token":"ghu_apps"}}`,
			wantToken: "ghu_hosts", wantFile: "hosts.json"},
		{name: "hosts.json without github.com falls through", clientID: editorApp,
			hosts:     `{}`,
			apps:      `{"github.com:Iv1.b507a08c87ecfe98":{"oauth_token":"ghu_apps"}}`,
			wantToken: "ghu_apps", wantFile: "apps.json"},
		{name: "corrupt hosts.json is an error", clientID: editorApp,
			hosts: `{not json "ghu_secret"`, apps: `{"github.com:x":{"oauth_token":"ghu_apps"}}`, wantErr: "hosts.json"},
		{name: "wrong shape is an error", clientID: editorApp,
			apps: `{"github.com":"ghu_secret"}`, wantErr: "apps.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t)
		})
	}
}

// editorCase is a case of TestFindEditorFiles.
type editorCase struct {
	name      string
	hosts     string // "" = no file
	apps      string
	clientID  string
	wantToken string
	wantFile  string // "hosts.json" or "apps.json"
	wantErr   string // "" = none; else a part of the error
}

func (tt editorCase) check(t *testing.T) {
	t.Helper()
	cfgDir := t.TempDir()
	for name, content := range map[string]string{"hosts.json": tt.hosts, "apps.json": tt.apps} {
		if content != "" {
			writeFile(t, filepath.Join(cfgDir, "github-copilot", name), content, 0o600)
		}
	}
	tok, _, err := Find(Options{Getenv: envMap(map[string]string{"XDG_CONFIG_HOME": cfgDir}), EditorClientID: tt.clientID})
	if tt.wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) ||
			strings.Contains(err.Error(), "ghu_secret") || strings.Contains(err.Error(), "ghu_apps") {
			t.Fatalf("err = %v, want one containing %q and no token", err, tt.wantErr)
		}
		if tok != (Token{}) {
			t.Fatalf("a token with the error: %v", tok)
		}
		return
	}
	want := Source{KindEditor, filepath.Join(cfgDir, "github-copilot", tt.wantFile)}
	if err != nil || tok.Value != tt.wantToken || tok.Source != want {
		t.Fatalf("got %q from %v, %v; want %q from %v", tok.Value, tok.Source, err, tt.wantToken, want)
	}
}

func TestFindConfigDir(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".config", "github-copilot", "hosts.json"), `{"github.com":{"oauth_token":"ghu_home"}}`, 0o600)
	tests := []struct {
		name      string
		env       map[string]string
		wantToken string
		wantErr   error
	}{
		{"HOME/.config without XDG_CONFIG_HOME", map[string]string{"HOME": home}, "ghu_home", nil},
		{"XDG_CONFIG_HOME wins over HOME", map[string]string{"HOME": home, "XDG_CONFIG_HOME": t.TempDir()}, "", ErrNotFound},
		{"neither", map[string]string{}, "", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, _, err := Find(Options{Getenv: envMap(tt.env)})
			if tok.Value != tt.wantToken || !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %q, %v; want %q, %v", tok.Value, err, tt.wantToken, tt.wantErr)
			}
		})
	}
}

func TestSavedPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_CONFIG_HOME": "/x/cfg", "HOME": "/home/u"}, filepath.Join("/x/cfg", "copilot-proxy", "github-token")},
		{map[string]string{"HOME": "/home/u"}, filepath.Join("/home/u", ".config", "copilot-proxy", "github-token")},
		{map[string]string{}, ""},
	}
	for _, tt := range tests {
		if got := SavedPath(envMap(tt.env)); got != tt.want {
			t.Errorf("SavedPath(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestTokenFileProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, " \n", 0o600)
	multi := filepath.Join(dir, "multi")
	writeFile(t, multi, "ghu_secret_a\nghu_secret_b\n", 0o600)
	huge := filepath.Join(dir, "huge")
	writeFile(t, huge, strings.Repeat("ghu_secret", 7000), 0o600)
	notDir := filepath.Join(empty, "token") // under a regular file

	tests := []struct {
		path, want string
	}{
		{filepath.Join(dir, "missing"), "does not exist"},
		{empty, "is empty"},
		{multi, "only the token"},
		{dir, "is a directory"},
		{huge, "larger than 64 KiB"},
		{notDir, "cannot be read"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			t.Parallel()
			// An explicitly configured file that fails is an error, not a
			// fall-through to the next source.
			env := envMap(map[string]string{"GH_COPILOT_TOKEN": "ghu_x"})
			tok, _, err := Find(Options{Getenv: env, File: tt.path})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("Find(File: %s) = %v, want an error containing %q and the path", tt.path, err, tt.want)
			}
			if strings.Contains(err.Error(), "ghu_") || tok != (Token{}) {
				t.Fatalf("token leaked: %v / %#v", err, tok)
			}
		})
	}
}

func TestTokenFileWorldReadable(t *testing.T) {
	t.Parallel()
	open := filepath.Join(t.TempDir(), "open")
	writeFile(t, open, "ghu_secretvalue\n", 0o644)
	tok, warns, err := Find(Options{Getenv: envMap(nil), File: open})
	if err != nil || tok.Value != "ghu_secretvalue" {
		t.Fatalf("a world-readable file should still work: %v", err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), "chmod 600 "+open) ||
		!strings.Contains(string(warns[0]), "mode 0644") || strings.Contains(string(warns[0]), "ghu_secretvalue") {
		t.Fatalf("want one chmod warning without the token, got %v", warns)
	}
}

// A saved file that exists but cannot be used is reported, not skipped.
func TestFindBrokenSavedFile(t *testing.T) {
	t.Parallel()
	cfgDir := t.TempDir()
	saved := filepath.Join(cfgDir, "copilot-proxy", "github-token")
	writeFile(t, saved, "", 0o600)
	writeFile(t, filepath.Join(cfgDir, "github-copilot", "hosts.json"), `{"github.com":{"oauth_token":"ghu_hosts"}}`, 0o600)
	_, _, err := Find(Options{Getenv: envMap(map[string]string{"XDG_CONFIG_HOME": cfgDir})})
	if err == nil || !strings.Contains(err.Error(), saved+" is empty") {
		t.Fatalf("err = %v", err)
	}
}

func TestFindEnvWithSpaces(t *testing.T) {
	t.Parallel()
	tests := []string{"COPILOT_PROXY_GITHUB_TOKEN", "GH_COPILOT_TOKEN", "GITHUB_COPILOT_TOKEN"}
	for _, name := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := envMap(map[string]string{name: " ghu_secret_one\nghu_secret_two "})
			_, _, err := Find(Options{Getenv: env})
			if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "ghu_") {
				t.Fatalf("err = %v, want one naming %s without the token", err, name)
			}
		})
	}
}

// A Token printed or logged by mistake shows where it came from, never the
// secret.
func TestTokenFormattingHidesTheSecret(t *testing.T) {
	t.Parallel()
	tok := Token{Value: "ghu_secretvalue", Source: Source{KindFile, "/x/token"}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		got := fmt.Sprintf(verb, tok)
		if strings.Contains(got, "ghu_secretvalue") || !strings.Contains(got, "file /x/token") {
			t.Errorf("%s: %s", verb, got)
		}
	}
	if got := fmt.Sprintf("%v", []Token{tok}); strings.Contains(got, "ghu_") {
		t.Errorf("in a slice: %s", got)
	}
}

func TestCauseKeepsTheErrorKind(t *testing.T) {
	t.Parallel()
	pe := &fs.PathError{Op: "open", Path: "/p", Err: fs.ErrPermission}
	if !errors.Is(cause(pe), fs.ErrPermission) || cause(pe).Error() != "permission denied" {
		t.Fatalf("cause(%v) = %v", pe, cause(pe))
	}
	if plain := errors.New("x"); cause(plain) != plain {
		t.Fatal("a plain error must stay itself")
	}
}

// TestNotFoundNamesTheFilesSearched: the error when no token is found names
// the editor files really searched, which follow XDG_CONFIG_HOME.
func TestNotFoundNamesTheFilesSearched(t *testing.T) {
	t.Parallel()
	xdg := t.TempDir()
	_, _, err := Find(Options{Getenv: func(k string) string {
		return map[string]string{"HOME": "/nonexistent-home", "XDG_CONFIG_HOME": xdg}[k]
	}})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	for _, want := range []string{
		filepath.Join(xdg, "github-copilot", "hosts.json"),
		filepath.Join(xdg, "github-copilot", "apps.json"),
		filepath.Join(xdg, "copilot-proxy", "github-token"),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "~/.config") || strings.Contains(err.Error(), "/nonexistent-home") {
		t.Errorf("the error names a path that was not searched: %v", err)
	}
}
