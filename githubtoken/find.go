// Package githubtoken finds, saves and removes the GitHub OAuth token that
// copilot-proxy exchanges for Copilot tokens.
//
// Find looks in the environment, an explicitly configured file, the file
// the login command saves (SavedPath, written by Save, deleted by Remove)
// and the Copilot editor plugins' files, and says where it found the token
// (Source), so logs and status can name the source without the token.
//
// It imports only the standard library. The token never appears in an
// error, a Warning or a String method.
package githubtoken

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables holding the token, in the order Find reads them:
// envToken is the project's own and comes before Options.File; the other
// two, set by other Copilot tools, come after it.
const (
	envToken         = "COPILOT_PROXY_GITHUB_TOKEN"
	envGHCopilot     = "GH_COPILOT_TOKEN"
	envGitHubCopilot = "GITHUB_COPILOT_TOKEN"
)

// ErrNotFound is what Find's error wraps when no source has a token; the
// error itself tells the user every way to provide one and names the files
// that were searched.
var ErrNotFound = errors.New("no GitHub token found")

// notFound is ErrNotFound with the advice and the editor files searched
// (which follow XDG_CONFIG_HOME and HOME).
func notFound(saved string, editorFiles []string) error {
	where := "(no HOME or XDG_CONFIG_HOME to find them)"
	if len(editorFiles) > 0 {
		where = strings.Join(editorFiles, " or ")
	}
	if saved == "" {
		saved = "the login file (no HOME or XDG_CONFIG_HOME)"
	}
	return fmt.Errorf("%w: run `copilot-proxy login` to sign in with GitHub (it saves a token to %s, where serve finds it), "+
		"or set COPILOT_PROXY_GITHUB_TOKEN (or --github-token-file / COPILOT_PROXY_GITHUB_TOKEN_FILE) "+
		"to a GitHub OAuth token of a Copilot-enabled app (ghu_/gho_; classic ghp_ tokens are rejected by Copilot), "+
		"or sign in to Copilot in an editor so that %s exists", ErrNotFound, saved, where)
}

// Kind is the kind of place a token came from.
type Kind string

// The kinds of Source.
const (
	KindEnv    Kind = "env"    // an environment variable
	KindFile   Kind = "file"   // Options.File or the file Save wrote
	KindEditor Kind = "editor" // an editor plugin's hosts.json or apps.json
)

// Source says where a token came from, for logs and status; it never holds
// the token.
type Source struct {
	Kind Kind
	Name string // the variable name or the file path
}

// String is "environment variable NAME", "file PATH" or "editor PATH".
func (s Source) String() string {
	if s.Kind == KindEnv {
		return "environment variable " + s.Name
	}
	return string(s.Kind) + " " + s.Name
}

// Token is a GitHub OAuth token and where it came from.
type Token struct {
	Value  string // the secret: send it to GitHub, never log or print it
	Source Source
}

// String names the source only, so a Token logged or printed by mistake
// (with %v, %+v or %s) does not leak the secret.
func (t Token) String() string { return "GitHub token from " + t.Source.String() }

// GoString is String, for %#v.
func (t Token) GoString() string { return t.String() }

// Warning is a non-fatal problem with the token's source, such as a token
// file other users can read, for the caller to log. It names the source,
// never the token.
type Warning string

func (w Warning) String() string { return string(w) }

// Options says where Find looks besides the fixed places.
type Options struct {
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// File is a token file the user configured (--github-token-file). When
	// set, a file that cannot be used is an error, never skipped.
	File string
	// EditorClientID is the OAuth app whose entry in the editor plugins'
	// apps.json is preferred when it holds several apps: pass
	// copilot.DefaultClientID, the plugins' own app. "" prefers none (the
	// first app by name is taken).
	EditorClientID string
}

// Find looks for the GitHub OAuth token in order: the
// COPILOT_PROXY_GITHUB_TOKEN variable, Options.File, GH_COPILOT_TOKEN /
// GITHUB_COPILOT_TOKEN, the file Save writes (SavedPath), then the editor
// plugins' hosts.json and apps.json. It returns ErrNotFound when none has
// a token, and an error naming the source when one cannot be used.
func Find(opts Options) (Token, []Warning, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if t, err := fromEnv(getenv, envToken); t.Value != "" || err != nil {
		return t, nil, err
	}
	if opts.File != "" {
		return fromFile(opts.File)
	}
	for _, name := range []string{envGHCopilot, envGitHubCopilot} {
		if t, err := fromEnv(getenv, name); t.Value != "" || err != nil {
			return t, nil, err
		}
	}
	if p := SavedPath(getenv); p != "" {
		// Absent is normal (login never ran); anything else that stops the
		// file from being read is reported by fromFile.
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			return fromFile(p)
		}
	}
	var searched []string
	if d := configDir(getenv); d != "" {
		for _, name := range []string{"hosts.json", "apps.json"} {
			p := filepath.Join(d, "github-copilot", name)
			searched = append(searched, p)
			v, err := readEditorFile(p, opts.EditorClientID)
			if err != nil {
				return Token{}, nil, err
			}
			if v != "" {
				return Token{Value: v, Source: Source{KindEditor, p}}, nil, nil
			}
		}
	}
	return Token{}, nil, notFound(SavedPath(getenv), searched)
}

// fromEnv reads a token variable; a blank one counts as unset, as most
// deployment tools can blank a variable but not unset it.
func fromEnv(getenv func(string) string, name string) (Token, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return Token{}, nil
	}
	if strings.ContainsAny(v, " \t\r\n") {
		// Sent as is, it would fail at GitHub with a confusing answer.
		return Token{}, fmt.Errorf("environment variable %s must hold only the token (it has more than one word or line)", name)
	}
	return Token{Value: v, Source: Source{KindEnv, name}}, nil
}

// fromFile reads a token file that must be usable.
func fromFile(path string) (Token, []Warning, error) {
	v, warns, err := readTokenFile(path)
	if err != nil {
		return Token{}, nil, err
	}
	return Token{Value: v, Source: Source{KindFile, path}}, warns, nil
}

// configDir is $XDG_CONFIG_HOME, else $HOME/.config, else "".
func configDir(getenv func(string) string) string {
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return d
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config")
	}
	return ""
}

// SavedPath is where Save keeps the token for Find:
// $XDG_CONFIG_HOME/copilot-proxy/github-token, else under $HOME/.config;
// "" when neither variable is set. getenv nil means os.Getenv.
func SavedPath(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	d := configDir(getenv)
	if d == "" {
		return ""
	}
	return filepath.Join(d, "copilot-proxy", "github-token")
}
