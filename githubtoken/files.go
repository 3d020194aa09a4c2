package githubtoken

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
)

// maxTokenFile bounds what readTokenFile reads: a token is under 100
// bytes, so a bigger file is a wrong path (a log, a binary), not a token.
const maxTokenFile = 64 << 10

// readTokenFile reads a file holding only a token, trimming surrounding
// whitespace. It opens the file once and checks that handle, so what is
// checked is what is read; pipes (such as <(pass show x)) work too.
func readTokenFile(path string) (string, []Warning, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("GitHub token file %s does not exist", path)
	}
	if err != nil {
		return "", nil, fmt.Errorf("GitHub token file %s cannot be read: %w", path, cause(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("GitHub token file %s: %w", path, cause(err))
	}
	if st.IsDir() {
		return "", nil, fmt.Errorf("GitHub token file %s is a directory", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", nil, fmt.Errorf("GitHub token file %s cannot be read: %w", path, cause(err))
	}
	if len(b) > maxTokenFile {
		return "", nil, fmt.Errorf("GitHub token file %s is larger than %d KiB: it must hold only the token", path, maxTokenFile>>10)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", nil, fmt.Errorf("GitHub token file %s is empty", path)
	}
	if strings.ContainsAny(t, " \t\r\n") {
		return "", nil, fmt.Errorf("GitHub token file %s must hold only the token (it has more than one word or line)", path)
	}
	var warns []Warning
	if perm := st.Mode().Perm(); perm&0o044 != 0 {
		warns = append(warns, Warning(fmt.Sprintf("GitHub token file %s is readable by other users (mode %04o); run: chmod 600 %s", path, perm, path)))
	}
	return t, warns, nil
}

// editorEntry is one account in an editor plugin's hosts.json or apps.json.
type editorEntry struct {
	OAuthToken string `json:"oauth_token"`
}

// readEditorFile returns the github.com token from an editor plugin's
// hosts.json (key "github.com") or apps.json (keys "github.com:CLIENT_ID",
// one per OAuth app; clientID's entry is preferred); "" when the file is
// absent or has none. Errors never quote the file's content.
func readEditorFile(path, clientID string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("editor token file %s cannot be read: %w", path, cause(err))
	}
	var entries map[string]editorEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return "", fmt.Errorf("editor token file %s is not valid JSON", path)
	}
	token := func(key string) string { return strings.TrimSpace(entries[key].OAuthToken) }
	if t := token("github.com"); t != "" {
		return t, nil
	}
	if clientID != "" {
		if t := token("github.com:" + clientID); t != "" {
			return t, nil
		}
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		if strings.HasPrefix(k, "github.com:") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // a deterministic choice among several apps
	for _, k := range keys {
		if t := token(k); t != "" {
			return t, nil
		}
	}
	return "", nil
}

// cause is the reason of a file-system error without the operation and
// path, which the caller's message already names; it stays wrapped so
// errors.Is(err, fs.ErrPermission) still works.
func cause(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}
