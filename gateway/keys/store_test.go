package keys

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenLeavesExistingFolderAlone: a folder the user made keeps its mode.
func TestOpenLeavesExistingFolderAlone(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "mine")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	openURL(t, filepath.Join(dir, "k.db"), Options{})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o750 {
		t.Errorf("folder mode changed to %04o", got)
	}
}

// TestPragmasOnEveryConnection: the DSN pragmas hold on each pooled
// connection, not only the first.
func TestPragmasOnEveryConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openURL(t, tempDB(t), Options{})
	conns := make([]*sql.Conn, 2)
	for i := range conns {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range append(conns, s.pollConn) {
		for _, tc := range []struct{ pragma, want string }{
			{"busy_timeout", "5000"},
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"synchronous", "1"}, // NORMAL
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("conn %d: PRAGMA %s = %s, want %s", i, tc.pragma, got, tc.want)
			}
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to open
		want  string
	}{
		{
			name: "corrupt file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "corrupt.db")
				junk := strings.Repeat("this is not a database, just text. ", 200)
				if err := os.WriteFile(p, []byte(junk), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			},
			want: "file is not a database",
		},
		{
			// Tests run as root, so permission bits would not stop us; a
			// regular file where a folder must be does.
			name: "parent is a file",
			setup: func(t *testing.T, dir string) string {
				f := filepath.Join(dir, "plain")
				if err := os.WriteFile(f, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(f, "sub", "keys.db")
			},
			want: "not a directory",
		},
		{
			name: "path is a folder",
			setup: func(t *testing.T, dir string) string {
				return dir
			},
			want: "is a folder",
		},
		{
			name: "another program's SQLite file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "other.db")
				db, err := sql.Open("sqlite", p)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec("CREATE TABLE notes (body TEXT)"); err != nil {
					t.Fatal(err)
				}
				return p
			},
			want: "not a copilot-proxy key store",
		},
		{
			name: "schema from a newer build",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "newer.db")
				s, err := Open(ctx, p, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.db.Exec("PRAGMA user_version = 999"); err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				return p
			},
			want: "newer than this build knows",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := tc.setup(t, t.TempDir())
			s, err := Open(ctx, path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "cannot open key store "+path+": ") {
				t.Errorf("error does not name the path first: %q", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
		})
	}

	t.Run("no path", func(t *testing.T) {
		t.Parallel()
		_, err := Open(ctx, "", Options{})
		if err == nil || !strings.Contains(err.Error(), "COPILOT_PROXY_DB") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestMigrationsIdempotent: reopening keeps data and re-applies nothing.
// TestOpenOddPath: characters that mean something in an SQLite URI are
// escaped.
func TestOpenOddPath(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "my keys?#%41", "k.db")
	s := openURL(t, path, Options{})
	mustCreate(t, s, CreateParams{Name: "alice"})
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the given path: %v", err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q", s.Path())
	}
}

func testPingAndCloseIdempotent(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	s, err := OpenURL(ctx, newDB(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
}

func TestDefaultPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"xdg", map[string]string{"XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/copilot-proxy/copilot-proxy.db"},
		{"home", map[string]string{"HOME": "/home/u"}, "/home/u/.local/share/copilot-proxy/copilot-proxy.db"},
		{"relative xdg ignored", map[string]string{"XDG_DATA_HOME": "rel", "HOME": "/home/u"}, "/home/u/.local/share/copilot-proxy/copilot-proxy.db"},
		{"nothing", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := DefaultPath(func(k string) string { return tc.env[k] })
			if got != tc.want {
				t.Errorf("DefaultPath = %q, want %q", got, tc.want)
			}
		})
	}
}
