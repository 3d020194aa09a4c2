package logging

import (
	"io"
	"os"
	"sync"
	"time"
)

// Log buffering: the access log writes one line per request, and writing each
// straight to a file or pipe costs a write system call per request (about 3 %
// of the CPU under load). When the log goes to a file or a pipe (not a
// terminal), lines are collected in memory and written in batches: at the
// latest flushInterval after the first unwritten line, at once when
// bufferSize fills, and on Flush or Close (the server closes the Buffer last,
// after every other component has logged its final line). Lines are never
// reordered, split or dropped; a crash of the process (not a graceful stop)
// may lose at most the last flushInterval of lines.
const (
	flushInterval = 100 * time.Millisecond
	bufferSize    = 64 << 10
)

// Buffer is an io.Writer that batches writes to another writer. Writers only
// append to memory under mu; the write to the underlying writer happens in
// flush, serialised by flushMu, so a slow writer holds up at most the Write
// that finds the buffer full (as an unbuffered write would have), never the
// ones that still fit.
//
// A nil *Buffer's Flush and Close do nothing, so callers can defer them
// whether or not Buffered chose to buffer.
type Buffer struct {
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

// Buffered wraps w in a Buffer when it is a file or a pipe rather than a
// terminal (a person watching a terminal wants every line at once), and
// returns the writer to log to and the Buffer to Flush and Close. Otherwise
// it returns w itself and a nil *Buffer.
func Buffered(w io.Writer) (io.Writer, *Buffer) {
	f, ok := w.(*os.File)
	if !ok || isTerminal(f) {
		return w, nil
	}
	b := NewBuffer(f)
	return b, b
}

// NewBuffer returns a Buffer writing to w in batches of up to 64 KiB, at
// most 100 ms after the first unwritten line. Close it to write the rest
// and stop its timer.
func NewBuffer(w io.Writer) *Buffer {
	return newBuffer(w, bufferSize, flushInterval)
}

// newBuffer is NewBuffer with the size and interval tests need.
func newBuffer(w io.Writer, size int, interval time.Duration) *Buffer {
	b := &Buffer{w: w, interval: interval, buf: make([]byte, 0, size), spare: make([]byte, 0, size)}
	// A stopped timer, armed by the first line of each batch: no goroutine
	// runs while nothing is buffered. A write error of a timed flush has
	// nowhere to go (the log itself is broken), so it is dropped.
	b.timer = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.timer.Stop()
	return b
}

// Write appends one log line (zerolog writes each event with one call), or
// writes it straight through after Close.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.flushMu.Lock()
		defer b.flushMu.Unlock()
		return b.w.Write(p)
	}
	if b.appendLocked(p) {
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
	// closed cannot have changed: Close takes flushMu, which is held here.
	ok := b.appendLocked(p)
	b.mu.Unlock()
	if ok {
		return len(p), nil
	}
	// Larger than the whole buffer, or others refilled it meanwhile: write
	// it directly (still holding flushMu, so no batch overtakes it).
	return b.w.Write(p)
}

// appendLocked adds p to the buffer if it fits, arming the timer for the
// first line of a batch. The caller holds mu.
func (b *Buffer) appendLocked(p []byte) bool {
	if len(b.buf)+len(p) > cap(b.buf) {
		return false
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		b.armed = true
		b.timer.Reset(b.interval)
	}
	return true
}

// Flush writes everything buffered.
func (b *Buffer) Flush() error {
	if b == nil {
		return nil
	}
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	return b.flushLocked()
}

// flushLocked swaps the buffers under mu and writes the full one outside it,
// so writers keep appending meanwhile. The caller holds flushMu.
func (b *Buffer) flushLocked() error {
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

// Close writes what is buffered and stops the timer; later writes go
// straight through, so a line logged after Close is not lost.
func (b *Buffer) Close() error {
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
