package githubtoken

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrMalformed is returned by Save for a token Find would refuse to read
// back: empty, or holding spaces or line breaks.
var ErrMalformed = errors.New("the GitHub token is empty or has spaces or line breaks; nothing was saved")

// Save writes token to path (normally SavedPath) so that no other user can
// read it at any moment and a crash never leaves a half-written file: the
// folder is made (or tightened to) 0700, the token is written to a 0600
// temporary file next to path, synced, then renamed over the old file.
// Errors name the paths, never the token.
func Save(path, token string) error {
	if path == "" {
		return errors.New("no path to save the GitHub token to")
	}
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return ErrMalformed
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, cause(err))
	}
	// MkdirAll leaves an existing folder's mode alone (and the umask may
	// have widened a new one): this folder is ours, tighten it.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("cannot restrict %s to mode 0700: %w", dir, cause(err))
	}
	tmp, err := writeTemp(dir, token+"\n")
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("cannot save the token to %s: %w", path, cause(err))
	}
	// Best effort: make the rename itself durable. Not every system can
	// sync a folder, and the token is saved either way.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// writeTemp writes content to a new 0600 file in dir, synced to disk, and
// returns its name; on failure nothing is left behind.
func writeTemp(dir, content string) (name string, err error) {
	f, err := os.CreateTemp(dir, ".github-token-*")
	if err != nil {
		return "", fmt.Errorf("cannot write to %s: %w", dir, cause(err))
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp already uses 0600; say so explicitly rather than rely on it.
	if err := f.Chmod(0o600); err != nil {
		return "", fmt.Errorf("cannot restrict %s to mode 0600: %w", tmp, cause(err))
	}
	if _, err := f.WriteString(content); err != nil {
		return "", fmt.Errorf("cannot write %s: %w", tmp, cause(err))
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("cannot write %s: %w", tmp, cause(err))
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("cannot write %s: %w", tmp, cause(err))
	}
	return tmp, nil
}

// Remove deletes the token file Save wrote at path and reports whether
// there was one; an absent file is not an error. It touches nothing else:
// other sources stay, and the token stays valid at GitHub until the user
// revokes it there. A symbolic link at path is removed, not its target; a
// folder is refused rather than emptied.
func Remove(path string) (removed bool, err error) {
	if path == "" {
		return false, errors.New("no path of a saved GitHub token to remove")
	}
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("cannot check the saved GitHub token %s: %w", path, cause(err))
	case st.IsDir():
		return false, fmt.Errorf("%s is a directory, not a saved token; remove it by hand if it is not needed", path)
	}
	err = os.Remove(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil // removed meanwhile by someone else
	case err != nil:
		return false, fmt.Errorf("cannot remove the saved GitHub token %s: %w", path, cause(err))
	}
	return true, nil
}
