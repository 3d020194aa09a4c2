package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// editorClientID is the OAuth app id of the editor plugins, whose entry in
// apps.json is preferred over other apps.
const editorClientID = "Iv1.b507a08c87ecfe98"

// tokenSource says where the GitHub token came from, for logs and status;
// it never holds the token.
type tokenSource struct {
	Kind string // "env", "file" or "editor"
	Name string // the variable name or the file path
}

func (s tokenSource) String() string {
	if s.Kind == "env" {
		return "environment variable " + s.Name
	}
	return s.Kind + " " + s.Name
}

// errNoGitHubToken is returned when no source has a token.
var errNoGitHubToken = errors.New("no GitHub token found: run `copilot-proxy login` to sign in with GitHub (it saves a token where serve finds it), " +
	"or set COPILOT_PROXY_GITHUB_TOKEN (or --github-token-file / COPILOT_PROXY_GITHUB_TOKEN_FILE) " +
	"to a GitHub OAuth token of a Copilot-enabled app (ghu_/gho_; classic ghp_ tokens are rejected by Copilot), " +
	"or sign in to Copilot in an editor so ~/.config/github-copilot/apps.json exists")

// configDir is $XDG_CONFIG_HOME, else $HOME/.config.
func configDir(getenv func(string) string) string {
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return d
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config")
	}
	return ""
}

// savedTokenPath is where `login` saves the token and where serve looks for it.
func savedTokenPath(getenv func(string) string) string {
	d := configDir(getenv)
	if d == "" {
		return ""
	}
	return filepath.Join(d, "copilot-proxy", "github-token")
}

// tokenWarning is a non-fatal problem with the token's source (such as a
// world-readable file) that serve logs.
type tokenWarning string

// findGitHubToken looks for the GitHub OAuth token in order: the
// COPILOT_PROXY_GITHUB_TOKEN variable, the configured token file,
// GH_COPILOT_TOKEN / GITHUB_COPILOT_TOKEN, the file `login` saves, then the
// editor plugins' hosts.json / apps.json. An explicitly configured file that
// cannot be used is an error, never silently skipped.
func findGitHubToken(getenv func(string) string, tokenFile string) (string, tokenSource, []tokenWarning, error) {
	if t := strings.TrimSpace(getenv("COPILOT_PROXY_GITHUB_TOKEN")); t != "" {
		return t, tokenSource{"env", "COPILOT_PROXY_GITHUB_TOKEN"}, nil, nil
	}
	if tokenFile != "" {
		t, warns, err := readTokenFile(tokenFile)
		if err != nil {
			return "", tokenSource{}, nil, err
		}
		return t, tokenSource{"file", tokenFile}, warns, nil
	}
	for _, name := range []string{"GH_COPILOT_TOKEN", "GITHUB_COPILOT_TOKEN"} {
		if t := strings.TrimSpace(getenv(name)); t != "" {
			return t, tokenSource{"env", name}, nil, nil
		}
	}
	if p := savedTokenPath(getenv); p != "" {
		if _, err := os.Stat(p); err == nil {
			t, warns, err := readTokenFile(p)
			if err != nil {
				return "", tokenSource{}, nil, err
			}
			return t, tokenSource{"file", p}, warns, nil
		}
	}
	if d := configDir(getenv); d != "" {
		for _, name := range []string{"hosts.json", "apps.json"} {
			p := filepath.Join(d, "github-copilot", name)
			t, err := readEditorFile(p)
			if err != nil {
				return "", tokenSource{}, nil, err
			}
			if t != "" {
				return t, tokenSource{"editor", p}, nil, nil
			}
		}
	}
	return "", tokenSource{}, nil, errNoGitHubToken
}

// readTokenFile reads a token file, trimming surrounding whitespace.
func readTokenFile(path string) (string, []tokenWarning, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("GitHub token file %s does not exist", path)
		}
		return "", nil, fmt.Errorf("GitHub token file %s: %v", path, errors.Unwrap(err))
	}
	if st.IsDir() {
		return "", nil, fmt.Errorf("GitHub token file %s is a directory", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("GitHub token file %s cannot be read: %v", path, errors.Unwrap(err))
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", nil, fmt.Errorf("GitHub token file %s is empty", path)
	}
	if strings.ContainsAny(t, " \t\r\n") {
		return "", nil, fmt.Errorf("GitHub token file %s must hold only the token (it has more than one word or line)", path)
	}
	var warns []tokenWarning
	if st.Mode().Perm()&0o044 != 0 {
		warns = append(warns, tokenWarning(fmt.Sprintf("GitHub token file %s is readable by other users (mode %04o); run: chmod 600 %s", path, st.Mode().Perm(), path)))
	}
	return t, warns, nil
}

type editorEntry struct {
	OAuthToken string `json:"oauth_token"`
}

// readEditorFile returns the github.com token from an editor plugin's
// hosts.json or apps.json; "" when the file is absent or has none.
func readEditorFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("editor token file %s cannot be read: %v", path, errors.Unwrap(err))
	}
	var entries map[string]editorEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return "", fmt.Errorf("editor token file %s is not valid JSON", path)
	}
	if e, ok := entries["github.com"]; ok && e.OAuthToken != "" {
		return e.OAuthToken, nil
	}
	if e, ok := entries["github.com:"+editorClientID]; ok && e.OAuthToken != "" {
		return e.OAuthToken, nil
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic choice among several apps
	for _, k := range keys {
		if strings.HasPrefix(k, "github.com:") && entries[k].OAuthToken != "" {
			return entries[k].OAuthToken, nil
		}
	}
	return "", nil
}
