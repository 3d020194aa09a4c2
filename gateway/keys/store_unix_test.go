//go:build unix

package keys

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOpenCreatesPrivateFiles checks the modes under umask 0, the worst case:
// the folder 0700, the database 0600, and the WAL and SHM files SQLite makes
// after a write 0600 too. Not parallel: the umask is process-wide.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	base := t.TempDir()
	dir := filepath.Join(base, "data", "copilot-proxy")
	path := filepath.Join(dir, "copilot-proxy.db")
	s := openURL(t, path, Options{})
	mustCreate(t, s, CreateParams{Name: "alice"})

	want := map[string]fs.FileMode{
		filepath.Join(base, "data"): 0o700,
		dir:                         0o700,
		path:                        0o600,
		path + "-wal":               0o600,
		path + "-shm":               0o600,
	}
	for p, mode := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %04o, want %04o", p, got, mode)
		}
	}
}
