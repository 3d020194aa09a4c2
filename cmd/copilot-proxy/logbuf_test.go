package main

import (
	"bytes"
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
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogBufferBatchesAndFlushesOnClose(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	b := newLogBuffer(&out, 1<<10, time.Hour) // the timer never fires here
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
	if out.writes >= 50 {
		t.Fatalf("%d writes for 102 lines: not batched", out.writes)
	}
	// After Close, writes go straight through.
	_, _ = b.Write([]byte("after\n"))
	if !strings.HasSuffix(out.String(), "last\nafter\n") {
		t.Fatalf("write after Close not passed through: %q", out.String())
	}
}

func TestLogBufferFlushesOnTimer(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	b := newLogBuffer(&out, 64<<10, time.Millisecond)
	defer b.Close()
	_, _ = b.Write([]byte("one\n"))
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != "one\n" {
		if time.Now().After(deadline) {
			t.Fatal("the line was not flushed by the timer")
		}
		time.Sleep(time.Millisecond)
	}
	// The timer re-arms for the next line.
	_, _ = b.Write([]byte("two\n"))
	for out.String() != "one\ntwo\n" {
		if time.Now().After(deadline) {
			t.Fatal("the second line was not flushed by the timer")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLogBufferConcurrentWritersKeepLinesWhole(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	b := newLogBuffer(&out, 512, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				_, _ = b.Write([]byte(fmt.Sprintf("g%d-%03d %s\n", g, i, strings.Repeat("y", i%90))))
			}
		}()
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200)
	}
	next := make(map[string]int)
	for _, l := range lines {
		var g, i int
		if _, err := fmt.Sscanf(l, "g%d-%03d", &g, &i); err != nil {
			t.Fatalf("torn line %q", l)
		}
		key := fmt.Sprint(g)
		if i != next[key] {
			t.Fatalf("writer %d: line %d after %d (reordered)", g, i, next[key]-1)
		}
		next[key]++
	}
}

func TestBufferLogsOnlyForFiles(t *testing.T) {
	t.Parallel()
	var plain bytes.Buffer
	if w, b := bufferLogs(&plain); w != &plain || b != nil {
		t.Fatal("a non-file writer must not be buffered")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, b := bufferLogs(f)
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
	var nilBuf *logBuffer
	if nilBuf.Flush() != nil || nilBuf.Close() != nil {
		t.Fatal("a nil *logBuffer must do nothing")
	}
}
