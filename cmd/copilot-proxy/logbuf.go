package main

import (
	"io"
	"os"
	"sync"
	"time"
)

// Log buffering: the access log writes one line per request, and writing each
// straight to a file or pipe costs a write system call per request (about 3 %
// of the CPU under load). When the log goes to a file or a pipe (not a
// terminal), serve collects lines in memory and writes them in batches: at the
// latest logFlushInterval after the first unwritten line, at once when
// logBufferSize fills, and on shutdown (runServe flushes last, after every
// other component has logged its final line). Lines are never reordered,
// split or dropped; a crash of the process (not a graceful stop) may lose at
// most the last logFlushInterval of lines.
const (
	logFlushInterval = 100 * time.Millisecond
	logBufferSize    = 64 << 10
)

// logBuffer is an io.Writer that batches writes to w. Writers only append to
// memory under mu; the write to w happens in flush, serialised by flushMu, so
// a slow w holds up at most the writer that finds the buffer full (as an
// unbuffered write would have), never the ones that still fit.
type logBuffer struct {
	w        io.Writer
	interval time.Duration

	flushMu sync.Mutex // serialises writes to w, so batches stay in order

	mu     sync.Mutex
	buf    []byte
	spare  []byte // the other buffer, swapped in by flush
	timer  *time.Timer
	armed  bool // the timer will flush buf
	closed bool // after Close, writes go straight to w
}

func newLogBuffer(w io.Writer, size int, interval time.Duration) *logBuffer {
	b := &logBuffer{w: w, interval: interval, buf: make([]byte, 0, size), spare: make([]byte, 0, size)}
	b.timer = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.timer.Stop()
	return b
}

// bufferLogs wraps stderr in a logBuffer when it is a file or a pipe rather
// than a terminal (a person watching a terminal wants every line at once);
// otherwise it returns stderr and a nil *logBuffer, whose methods do nothing.
func bufferLogs(stderr io.Writer) (io.Writer, *logBuffer) {
	f, ok := stderr.(*os.File)
	if !ok || isTerminal(f) {
		return stderr, nil
	}
	b := newLogBuffer(f, logBufferSize, logFlushInterval)
	return b, b
}

// Write appends one log line (zerolog writes each event with one call).
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.flushMu.Lock()
		defer b.flushMu.Unlock()
		return b.w.Write(p)
	}
	if len(b.buf)+len(p) <= cap(b.buf) {
		b.buf = append(b.buf, p...)
		if !b.armed {
			b.armed = true
			b.timer.Reset(b.interval)
		}
		b.mu.Unlock()
		return len(p), nil
	}
	b.mu.Unlock()
	// Full: write what is buffered, then this line, in order.
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	if err := b.flushLocked(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	if len(b.buf)+len(p) <= cap(b.buf) && !b.closed {
		b.buf = append(b.buf, p...)
		if !b.armed {
			b.armed = true
			b.timer.Reset(b.interval)
		}
		b.mu.Unlock()
		return len(p), nil
	}
	b.mu.Unlock()
	// Larger than the whole buffer, which was just emptied: write it
	// directly (still holding flushMu, so no batch overtakes it).
	return b.w.Write(p)
}

// Flush writes everything buffered to w.
func (b *logBuffer) Flush() error {
	if b == nil {
		return nil
	}
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	return b.flushLocked()
}

// flushLocked swaps the buffers under mu and writes the full one outside it,
// so writers keep appending meanwhile. The caller holds flushMu.
func (b *logBuffer) flushLocked() error {
	b.mu.Lock()
	out := b.buf
	b.buf = b.spare[:0]
	b.spare = nil
	if b.armed {
		b.armed = false
		b.timer.Stop()
	}
	b.mu.Unlock()
	var err error
	if len(out) > 0 {
		_, err = b.w.Write(out)
	}
	b.mu.Lock()
	b.spare = out[:0]
	b.mu.Unlock()
	return err
}

// Close flushes what is buffered; later writes go straight to w.
func (b *logBuffer) Close() error {
	if b == nil {
		return nil
	}
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.flushLocked()
}
