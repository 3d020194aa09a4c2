package logging

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the flush timer's goroutine.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	err    error // returned by every Write when set
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Writes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes
}

// waitFor polls until out holds want: the timer flushes on its own goroutine.
func waitFor(t *testing.T, out *lockedBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("not flushed by the timer: have %q, want %q", out.String(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBufferBatchesAndFlushesOnClose(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	b := newBuffer(&out, 1<<10, time.Hour) // the timer never fires here
	var want strings.Builder
	for i := range 100 {
		line := fmt.Sprintf("{\"n\":%d}\n", i)
		want.WriteString(line)
		if n, err := b.Write([]byte(line)); err != nil || n != len(line) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	big := strings.Repeat("x", 3<<10) + "\n" // larger than the whole buffer
	want.WriteString(big)
	if _, err := b.Write([]byte(big)); err != nil {
		t.Fatal(err)
	}
	want.WriteString("last\n")
	_, _ = b.Write([]byte("last\n"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != want.String() {
		t.Fatalf("lines lost or reordered:\n got %q\nwant %q", got, want.String())
	}
	if out.Writes() >= 50 {
		t.Fatalf("%d writes for 102 lines: not batched", out.Writes())
	}
	// After Close, writes go straight through.
	_, _ = b.Write([]byte("after\n"))
	if !strings.HasSuffix(out.String(), "last\nafter\n") {
		t.Fatalf("write after Close not passed through: %q", out.String())
	}
}

func TestBufferFlushesOnTimer(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	b := newBuffer(&out, 64<<10, time.Millisecond)
	defer b.Close()
	_, _ = b.Write([]byte("one\n"))
	waitFor(t, &out, "one\n")
	// The timer re-arms for the next line.
	_, _ = b.Write([]byte("two\n"))
	waitFor(t, &out, "one\ntwo\n")
}

func TestBufferFlush(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	b := newBuffer(&out, 1<<10, time.Hour)
	defer b.Close()
	_, _ = b.Write([]byte("start\n"))
	if out.String() != "" {
		t.Fatalf("written before Flush: %q", out.String())
	}
	if err := b.Flush(); err != nil || out.String() != "start\n" {
		t.Fatalf("Flush = %v, output %q", err, out.String())
	}
	if err := b.Flush(); err != nil || out.Writes() != 1 {
		t.Fatalf("an empty Flush wrote: %v, %d writes", err, out.Writes())
	}
}

func TestBufferReportsWriteErrors(t *testing.T) {
	t.Parallel()
	broken := errors.New("disk full")
	tests := []struct {
		name string
		do   func(b *Buffer) error
	}{
		{"flush", func(b *Buffer) error { return b.Flush() }},
		{"close", func(b *Buffer) error { return b.Close() }},
		{"full buffer", func(b *Buffer) error { _, err := b.Write(make([]byte, 16)); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := &lockedBuffer{err: broken}
			b := newBuffer(out, 16, time.Hour)
			defer b.Close()
			if _, err := b.Write([]byte("buffered\n")); err != nil {
				t.Fatalf("a line that fits must not fail: %v", err)
			}
			if err := tt.do(b); !errors.Is(err, broken) {
				t.Fatalf("err = %v, want %v", err, broken)
			}
		})
	}
}

func TestBufferConcurrentWritersKeepLinesWhole(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	b := newBuffer(&out, 512, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				_, _ = b.Write([]byte(fmt.Sprintf("g%d-%03d %s\n", g, i, strings.Repeat("y", i%90))))
			}
		})
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200)
	}
	next := make(map[int]int)
	for _, l := range lines {
		var g, i int
		if _, err := fmt.Sscanf(l, "g%d-%03d", &g, &i); err != nil {
			t.Fatalf("torn line %q", l)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d after %d (reordered)", g, i, next[g]-1)
		}
		next[g]++
	}
}

func TestBufferedOnlyForFiles(t *testing.T) {
	t.Parallel()
	var plain bytes.Buffer
	if w, b := Buffered(&plain); w != &plain || b != nil {
		t.Fatal("a non-file writer must not be buffered")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, b := Buffered(f)
	if b == nil || w != b {
		t.Fatal("a regular file must be buffered")
	}
	_, _ = w.Write([]byte("line\n"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f.Name())
	if string(got) != "line\n" {
		t.Fatalf("file holds %q", got)
	}
	var nilBuf *Buffer
	if nilBuf.Flush() != nil || nilBuf.Close() != nil {
		t.Fatal("a nil *Buffer must do nothing")
	}
}
