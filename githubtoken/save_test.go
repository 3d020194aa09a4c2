package githubtoken

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".github-token-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestSave(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, path string) // what exists before Save
	}{
		{"new folder and file", func(*testing.T, string) {}},
		{"too-open old file and folder are replaced and tightened", func(t *testing.T, path string) {
			writeFile(t, path, "ghu_old\n", 0o644)
			if err := os.Chmod(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfgDir := filepath.Join(t.TempDir(), "config")
			env := envMap(map[string]string{"XDG_CONFIG_HOME": cfgDir})
			path := SavedPath(env)
			tt.setup(t, path)
			if err := Save(path, "ghu_new"); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b) != "ghu_new\n" {
				t.Fatalf("saved file: %v (content matches: %v)", err, string(b) == "ghu_new\n")
			}
			assertMode(t, path, 0o600)
			assertMode(t, filepath.Dir(path), 0o700)
			assertNoTemp(t, filepath.Dir(path))
			// Find picks the saved token, without a warning.
			tok, warns, err := Find(Options{Getenv: env})
			if err != nil || tok.Value != "ghu_new" || tok.Source != (Source{KindFile, path}) || len(warns) != 0 {
				t.Fatalf("Find after Save: %v, %d warnings, %v", tok, len(warns), err)
			}
		})
	}
}

func TestSaveRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	writeFile(t, blocker, "x", 0o600)
	folder := filepath.Join(dir, "folder")
	if err := os.MkdirAll(filepath.Join(folder, "github-token"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, token string
		want              string
		is                error
	}{
		{"empty token", filepath.Join(dir, "a", "github-token"), "", "nothing was saved", ErrMalformed},
		{"token with a line break", filepath.Join(dir, "a", "github-token"), "ghu_secret\nmore", "nothing was saved", ErrMalformed},
		{"token with a space", filepath.Join(dir, "a", "github-token"), "ghu_secret more", "nothing was saved", ErrMalformed},
		{"no path", "", "ghu_secret", "no path", nil},
		{"folder cannot be made", filepath.Join(blocker, "sub", "github-token"), "ghu_secret", "cannot create " + filepath.Join(blocker, "sub"), nil},
		{"a folder where the file goes", filepath.Join(folder, "github-token"), "ghu_secret", "cannot save the token to " + filepath.Join(folder, "github-token"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Save(tt.path, tt.token)
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("Save = %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "ghu_secret") {
				t.Fatalf("the token is in the error: %v", err)
			}
			if tt.path != "" {
				if _, err := os.Stat(filepath.Dir(tt.path)); err == nil {
					assertNoTemp(t, filepath.Dir(tt.path))
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a malformed token created its folder: %v", err)
	}
}

// Setups of TestRemove: what is at path before Remove.
func saveOne(t *testing.T, path string) {
	if err := Save(path, "ghu_x"); err != nil {
		t.Fatal(err)
	}
}

func removeFolder(t *testing.T, path string) {
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
}

func makeFolder(t *testing.T, path string) {
	if err := os.MkdirAll(filepath.Join(path, "keep"), 0o700); err != nil {
		t.Fatal(err)
	}
}

func makeLink(t *testing.T, path string) {
	target := filepath.Join(filepath.Dir(path), "target")
	writeFile(t, target, "ghu_x\n", 0o600)
	if err := os.Symlink(target, path); err != nil {
		t.Skip("no symbolic links here:", err)
	}
}

func TestRemove(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		setup       func(t *testing.T, path string)
		wantRemoved bool
		wantErr     string // "" = none
		keep        string // a file next to path that must survive
	}{
		{"saved file", saveOne, true, "", ""},
		{"no file", func(*testing.T, string) {}, false, "", ""},
		{"no folder either", removeFolder, false, "", ""},
		{"a folder is refused", makeFolder, false, "is a directory, not a saved token", ""},
		{"a link is removed, not its target", makeLink, true, "", "target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "copilot-proxy")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "github-token")
			tt.setup(t, path)
			removed, err := Remove(path)
			if removed != tt.wantRemoved {
				t.Errorf("removed = %v, want %v", removed, tt.wantRemoved)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want %q naming the path", err, tt.wantErr)
				}
				if _, err := os.Stat(path); err != nil {
					t.Fatalf("what Remove refused is gone: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("still there: %v", err)
			}
			if tt.keep != "" {
				if _, err := os.Stat(filepath.Join(dir, tt.keep)); err != nil {
					t.Fatalf("%s was removed: %v", tt.keep, err)
				}
			}
		})
	}
}

// After Save then Remove, Find no longer finds the token; a second Remove
// finds nothing to remove.
func TestSaveFindRemove(t *testing.T) {
	t.Parallel()
	env := envMap(map[string]string{"HOME": t.TempDir()})
	path := SavedPath(env)
	if err := Save(path, "ghu_round"); err != nil {
		t.Fatal(err)
	}
	if tok, _, err := Find(Options{Getenv: env}); err != nil || tok.Value != "ghu_round" {
		t.Fatalf("Find after Save: %v, %v", tok, err)
	}
	if removed, err := Remove(path); !removed || err != nil {
		t.Fatalf("Remove = %v, %v", removed, err)
	}
	if _, _, err := Find(Options{Getenv: env}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Find after Remove: %v", err)
	}
	if removed, err := Remove(path); removed || err != nil {
		t.Fatalf("second Remove = %v, %v", removed, err)
	}
}
