package keys

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A stream's start counts it as a failed request without tokens; its end
// adds the tokens and takes the error back, whether both land in one flush
// or the start was already written.
func testRecordStartThenEnd(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	s := openURL(t, newDB(t), Options{FlushInterval: time.Hour})
	k := mustCreate(t, s, CreateParams{Name: "alice"})
	at := time.Date(2026, 3, 13, 23, 59, 59, 0, time.UTC)
	usage := func() UsageRow {
		t.Helper()
		rows, err := s.Usage(ctx, UsageQuery{})
		if err != nil || len(rows) != 1 {
			t.Fatalf("Usage = %+v, %v; want one row", rows, err)
		}
		return rows[0]
	}
	check := func(what string, got UsageRow, req, p, c, e int64) {
		t.Helper()
		if got.Requests != req || got.PromptTokens != p || got.CompletionTokens != c || got.Errors != e || got.Day != "2026-03-13" {
			t.Errorf("%s: %+v; want %d requests, %d+%d tokens, %d errors on 2026-03-13", what, got, req, p, c, e)
		}
	}

	// Start flushed on its own, as a crash would leave it.
	s.RecordStart(UsageRecord{KeyID: k.ID, Model: "m", At: at, PromptTokens: 9, Error: false})
	check("after start", usage(), 1, 0, 0, 1)
	// The end, recorded with the start's At, settles the same row.
	s.Record(UsageRecord{KeyID: k.ID, Model: "m", At: at, Started: true, PromptTokens: 3, CompletionTokens: 4})
	check("after a clean end", usage(), 1, 3, 4, 0)

	// Start and a failed end in one batch.
	s.RecordStart(UsageRecord{KeyID: k.ID, Model: "m", At: at})
	s.Record(UsageRecord{KeyID: k.ID, Model: "m", At: at, Started: true, Error: true, CompletionTokens: 1})
	check("after a failed stream", usage(), 2, 3, 5, 1)

	// A plain record is unchanged.
	s.Record(UsageRecord{KeyID: k.ID, Model: "m", At: at, Error: true})
	check("after a plain failed request", usage(), 3, 3, 5, 2)
}

// Without Flush, a record is committed within the default flush interval:
// another store on the same file sees it. The bound asserted is loose (the
// machine may be busy); the interval itself is checked exactly.
func testDefaultFlushIsBounded(t *testing.T, newDB func(*testing.T) string) {
	if defaultFlushInterval > 200*time.Millisecond {
		t.Fatalf("defaultFlushInterval = %v; a crash may lose at most 250 ms of usage", defaultFlushInterval)
	}
	ctx := context.Background()
	loc := newDB(t)
	s := openURL(t, loc, Options{})
	k := mustCreate(t, s, CreateParams{Name: "alice"})
	other := openURL(t, loc, Options{FlushInterval: time.Hour})

	start := time.Now()
	s.Record(UsageRecord{KeyID: k.ID, Model: "m"})
	for {
		rows, err := other.Usage(ctx, UsageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 && rows[0].Requests == 1 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("record not committed after %v: %+v", time.Since(start), rows)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("committed after %v", time.Since(start))
}

// TestStoreFolderTightened: the store's own folder is made 0700 even when
// it already existed wider; a folder of another name is left alone.
func TestStoreFolderTightened(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		folder string
		want   os.FileMode
	}{
		{"copilot-proxy", 0o700},
		{"shared", 0o755},
	} {
		dir := filepath.Join(t.TempDir(), tt.folder)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		st, err := Open(context.Background(), filepath.Join(dir, "k.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tt.want {
			t.Errorf("%s: folder mode %04o, want %04o", tt.folder, got, tt.want)
		}
	}
}
