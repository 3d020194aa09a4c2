package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/metrics"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// relayBufferSize is the read buffer of a stream relay. Lines longer than it
// are accumulated, so it bounds nothing but the size of one read; the
// upstream body below it is itself buffered by the transport, so a smaller
// buffer costs no extra system calls. It is held for a stream's whole life:
// 512 bytes instead of 2 KiB saves 1.5 KiB per open stream, at no measured
// cost per event (BenchmarkRelayPassthroughPerEvent: the same within noise).
const relayBufferSize = 512

// eventBufferSize is the initial capacity of the buffer one event is
// assembled in (it grows for larger events); Copilot's chunks are a few
// hundred bytes.
const eventBufferSize = 512

// maxPooledEvent is the largest event buffer kept for reuse: a rare large
// event's buffer is left to the collector rather than held by the pool.
const maxPooledEvent = 16 << 10

// maxEventSize bounds one SSE event read from the upstream, so a hostile
// upstream cannot make the gateway hold more than this per open stream (plus
// relayBufferSize): N streams hold at most N × (1 MiB + 512 bytes). Copilot's
// events are a few KiB; a tool call's arguments stream as many small deltas.
const maxEventSize = 1 << 20

// errEventTooLarge ends a stream whose event exceeds maxEventSize.
var errEventTooLarge = errors.New("an event exceeds 1 MiB")

// relayResult is what a stream relay observed, for logging and accounting.
type relayResult struct {
	Events int // events written to the client, [DONE] included
	Pings  int // keep-alive comments written
	// Dropped counts usage-only chunks withheld from a client that did not
	// ask for usage.
	Dropped int
	Done    bool // the upstream sent data: [DONE]
	// Usage is the usage object of the last chunk that had one; HasUsage
	// reports whether any had.
	Usage    api.Usage
	HasUsage bool
	// Cost is the last cost Copilot reported in an event (nano-credits);
	// HasCost reports whether one did.
	Cost    int64
	HasCost bool
	// Err is the upstream read error that ended the stream (the client got a
	// final error event); nil for a clean end.
	Err error
	// ClientGone is true when the client left (write failure or cancelled
	// context) before the end.
	ClientGone bool
	// FirstEvent is when the first event was written to the client (zero
	// if none was), by the server's clock, for the time-to-first-byte
	// metric.
	FirstEvent time.Time
}

// relayer sends upstream answers to clients: errors mapped, streams relayed
// event by event, bodies copied. It holds the buffers it recycles, the
// keep-alive interval and the clock; with metrics on it times the streams.
type relayer struct {
	keepalive time.Duration
	idle      time.Duration // longest wait for a complete event; <= 0: off
	now       func() time.Time
	metrics   *metrics.Metrics // nil: off
	readers   sync.Pool        // *bufio.Reader of stream relays
	tails     sync.Pool        // *tailReader of copied bodies
	events    eventBuffers     // what stream relays assemble events in
}

func newRelayer(keepalive, idle time.Duration, now func() time.Time, m *metrics.Metrics) *relayer {
	rl := &relayer{keepalive: keepalive, idle: idle, now: now, metrics: m}
	rl.readers.New = func() any { return bufio.NewReaderSize(nil, relayBufferSize) }
	rl.tails.New = func() any { return new(tailReader) }
	return rl
}

// answer sends the upstream's answer: an error status mapped to the
// client's error, a stream relayed in d's dialect, anything else copied.
func (rl *relayer) answer(w http.ResponseWriter, r *http.Request, resp *http.Response, d *dialect) {
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		writeUpstreamError(w, r, resp)
	case isEventStream(resp.Header):
		rl.stream(w, r, resp, d)
	default:
		rl.copy(w, r, resp)
	}
}

// stream relays an SSE answer (see relay) and notes how it went: usage and
// error code on the Entry, the stream metrics, a log line.
func (rl *relayer) stream(w http.ResponseWriter, r *http.Request, resp *http.Response, d *dialect) {
	detachStream(r, resp, func(resp *http.Response) {
		rl.streamStarted(r)
		res := rl.relay(w, r, resp, d)
		rl.streamEnded(r, res)
		noteStream(r, res)
	})
}

// detachStream runs a stream's relay (run) on a goroutine of its own, when
// the client's connection allows it (see middleware.Detach): net/http's
// per-connection goroutine and buffers are then freed for the stream's
// whole life. The detached run gets its own copy of resp and closes its
// body; the handler's resp is left with a body its closeAnswer leaves
// open. Otherwise run runs now.
func detachStream(r *http.Request, resp *http.Response, run func(*http.Response)) {
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		run(resp) // no body allowed: nothing to stream on a connection of its own
		return
	}
	own := *resp
	resp.Body = leftOpen{own.Body}
	if middleware.Detach(r, func() {
		defer own.Body.Close()
		run(&own)
	}) {
		return
	}
	resp.Body = own.Body
	run(resp)
}

// closeAnswer closes the body of the upstream's answer; handlers defer it
// (a deferred resp.Body.Close() would bind the body before a detached
// stream takes it over).
func closeAnswer(resp *http.Response) {
	_ = resp.Body.Close()
}

// leftOpen is a body a detached stream will close.
type leftOpen struct{ io.ReadCloser }

func (leftOpen) Close() error { return nil }

// noteStream notes how a relayed or translated stream went on the Entry:
// its usage, its reported cost and its error code, and logs it. A stream
// that ended without usage (cut, or the client left) is charged for what it
// used so far, estimated: the prompt estimated at admission and a token per
// event relayed (a delta event carries about one token).
func noteStream(r *http.Request, res *relayResult) {
	entry := middleware.EntryFrom(r.Context())
	switch {
	case res.HasUsage:
		entry.SetUsage(res.Usage)
	case res.Events > 0:
		n := int64(res.Events)
		entry.SetUsage(api.Usage{PromptTokens: entry.PromptEstimate(), CompletionTokens: n, TotalTokens: entry.PromptEstimate() + n})
	}
	if res.HasCost {
		entry.SetReportedCost(res.Cost)
	}
	if code := streamErrorCode(res); code != "" {
		entry.SetErrorCode(code)
	}
	logRelay(r, res)
}

// noteCost records the cost an upstream event or body reports, if any.
func (res *relayResult) noteCost(data []byte) {
	if !api.HasCost(data) {
		return
	}
	if n, ok := api.ReportedCost(data); ok {
		res.Cost, res.HasCost = n, true
	}
}

// relay streams an SSE response to the client event by event: each complete
// event (up to its blank line) is written with its exact bytes and flushed at
// once; nothing is coalesced, and no line length limit applies. After
// Keepalive of upstream silence the dialect's ping is sent. No complete
// event for the stream idle timeout (see eventGuard), an upstream read
// error, or an end without the dialect's last event, ends the stream with a
// final error event in the dialect's shape; a client that leaves stops the
// relay at once and, through its context, the upstream.
func (rl *relayer) relay(w http.ResponseWriter, r *http.Request, resp *http.Response, d *dialect) *relayResult {
	s := rl.startStream(w, r, resp, resp.StatusCode, d.ping)
	defer s.close()
	// With keep-alives the timer sends the headers if the first event is
	// late (see headerFlushDelay); without, they go now.
	if rl.keepalive <= 0 && s.out.flush() != nil {
		return &relayResult{ClientGone: true}
	}
	res := relayGuarded(r.Context(), s.br, s.out, d, rl.now, s.guard, &rl.events)
	res.Pings = s.out.pingCount()
	return res
}

// streamRun is what a stream relay holds while it runs: the writer to the
// client, the guarded reader of the upstream body, and the hook that closes
// that body the moment the client leaves (even if the body ignores its
// context), unblocking a pending read.
type streamRun struct {
	rl        *relayer
	out       *streamWriter
	guard     *eventGuard
	br        *bufio.Reader
	stopClose func() bool
}

// startStream sets the stream's headers and status (sent with the first
// event, see streamWriter) and sets up the relay's writer and reader. It is
// kept out of the relay's frame (noinline), which stays on the stack for
// the stream's whole life (see upstream.do).
//
//go:noinline
func (rl *relayer) startStream(w http.ResponseWriter, r *http.Request, resp *http.Response, status int, ping []byte) *streamRun {
	setStreamHeaders(w.Header())
	w.WriteHeader(status)
	s := &streamRun{rl: rl}
	s.stopClose = context.AfterFunc(r.Context(), func() { _ = resp.Body.Close() })
	s.out = newStreamWriter(w, rl.keepalive, rl.now, ping)
	if middleware.Detached(r.Context()) {
		s.out.writeInPlace()
	}
	s.guard = newEventGuard(resp.Body, rl.now, rl.idle)
	s.br = rl.readers.Get().(*bufio.Reader)
	s.br.Reset(s.guard)
	return s
}

// close pools the reader (without its body), disarms the writer's timer
// and the close hook.
func (s *streamRun) close() {
	s.br.Reset(nil)
	s.rl.readers.Put(s.br)
	s.out.stop()
	s.stopClose()
}

// relayGuarded is the relay loop, separate from the HTTP plumbing so tests
// and the benchmark can drive it: it writes each complete event of br and
// notes it on guard (the reader under br; nil: none). now is the clock
// FirstEvent is read from; events are assembled in buffers from bufs.
//
// Its state is one heap object and its result a pointer into it: this loop
// waits for upstream events for a stream's whole life, so its frame (and
// those under it) stays on the relaying goroutine's stack all along (the
// handler's, for a stream that is not detached), and must stay small (see
// upstream.do).
func relayGuarded(ctx context.Context, br *bufio.Reader, out *streamWriter, d *dialect, now func() time.Time, guard *eventGuard, bufs *eventBuffers) *relayResult {
	er := &eventRelay{out: out, d: d, now: now, guard: guard, bufs: bufs}
	return er.run(ctx, br)
}

// run relays br's events until its end, an error or the client leaving.
func (er *eventRelay) run(ctx context.Context, br *bufio.Reader) *relayResult {
	defer er.release()
	for {
		line, err := br.ReadSlice('\n')
		if er.buf == nil && len(line) > 0 {
			er.take()
		}
		er.ev = append(er.ev, line...)
		switch {
		case len(er.ev) > maxEventSize:
			// A runaway upstream must not make the gateway buffer without
			// bound: end the stream like a broken one.
			er.fail(errEventTooLarge)
			return &er.res
		case err == nil:
			if !er.endLine() {
				return &er.res
			}
		case errors.Is(err, bufio.ErrBufferFull):
			// The line goes on; keep accumulating it.
		case errors.Is(err, io.EOF):
			er.end()
			return &er.res
		case ctx.Err() != nil || er.out.failed():
			// A partial event is dropped: half an event would corrupt the
			// client's parse of anything that follows.
			er.res.ClientGone = true
			return &er.res
		default:
			er.fail(err)
			return &er.res
		}
	}
}

// eventRelay is the state of relayEvents: the event being assembled and
// what was observed so far.
type eventRelay struct {
	out       *streamWriter
	d         *dialect
	now       func() time.Time
	guard     *eventGuard // notes complete events; nil: none
	res       relayResult
	ev        []byte // the event being assembled, exact bytes
	lineStart int    // where the line being read starts in ev
	hasField  bool   // ev holds a non-blank line, so a blank line ends an event
	bufs      *eventBuffers
	buf       *eventBuf // ev's holder while an event is assembled; nil between events
}

// endLine handles a complete line: a blank line after a field dispatches
// the event. It reports false when the client is gone.
func (er *eventRelay) endLine() bool {
	if !isBlankLine(er.ev[er.lineStart:]) {
		er.hasField = true
		er.lineStart = len(er.ev)
		return true
	}
	if er.hasField {
		er.guard.mark()
		if !er.dispatch() {
			return false
		}
	}
	// Blank lines before an event stay in front of it, so the byte stream
	// is unchanged.
	er.lineStart = len(er.ev)
	return true
}

// dispatch writes the assembled event (or, when the gateway asked for the
// usage chunk itself, withholds it) and starts the next one. It reports
// false when the client is gone.
func (er *eventRelay) dispatch() bool {
	defer er.reset()
	er.res.noteCost(er.ev)
	if er.d.dropUsage && er.d.observe(er.ev, &er.res) && api.IsUsageOnlyChunk(eventData(er.ev)) {
		er.res.Dropped++
		return true
	}
	if err := er.out.write(er.ev); err != nil {
		er.res.ClientGone = true
		return false
	}
	if er.res.Events == 0 {
		er.res.FirstEvent = er.now()
	}
	er.res.Events++
	if !er.d.dropUsage {
		er.d.observe(er.ev, &er.res)
	}
	return true
}

// reset starts the next event; the buffer goes back to the pool until its
// first line arrives.
func (er *eventRelay) reset() {
	er.release()
	er.lineStart, er.hasField = 0, false
}

// take gets a buffer for the event being assembled.
func (er *eventRelay) take() {
	er.buf = er.bufs.get()
	er.ev = er.buf.b[:0]
}

// release gives the event's buffer back (ev is then empty).
func (er *eventRelay) release() {
	if er.buf == nil {
		return
	}
	er.buf.b = er.ev[:0]
	er.bufs.put(er.buf)
	er.buf, er.ev = nil, nil
}

// eventBuffers recycles the buffers events are assembled in, so that a
// stream holds one only while an event is arriving, not while it waits
// for the next (most of its life).
type eventBuffers struct{ pool sync.Pool }

// eventBuf holds a buffer in the pool (a pointer, so pooling allocates
// nothing).
type eventBuf struct{ b []byte }

// get returns a pooled buffer, or a new one.
func (bs *eventBuffers) get() *eventBuf {
	if b, ok := bs.pool.Get().(*eventBuf); ok {
		return b
	}
	return &eventBuf{b: make([]byte, 0, eventBufferSize)}
}

// put keeps b for reuse unless it grew past maxPooledEvent.
func (bs *eventBuffers) put(b *eventBuf) {
	if cap(b.b) <= maxPooledEvent {
		bs.pool.Put(b)
	}
}

// end handles the upstream's end of body: a last event without its blank
// line is terminated and sent; a stream without the dialect's last event
// ([DONE] for chat) is a cut.
func (er *eventRelay) end() {
	if er.hasField || er.lineStart < len(er.ev) {
		// Terminate the last event so the client's parser dispatches it.
		if er.ev[len(er.ev)-1] != '\n' {
			er.ev = append(er.ev, '\n')
		}
		er.ev = append(er.ev, '\n')
		if !er.dispatch() {
			return
		}
	}
	if !er.res.Done {
		// Copilot ends every stream with its last event; a clean end without
		// it is a cut (an intermediary closing, an HTTP/2 stream ended
		// early), and the client must not take it for a complete answer.
		er.fail(er.d.cut)
	}
}

// fail ends the stream with a final error event for err.
func (er *eventRelay) fail(err error) {
	er.res.Err = err
	if er.out.write(er.d.failEvent(streamError(err))) != nil {
		er.res.ClientGone = true
	}
}

// streamError is the final error event for an upstream read error.
func streamError(err error) *api.Error {
	if isTimeout(err) {
		return api.NewError(api.CodeUpstreamTimeout, "upstream stream idle timeout: "+shortReason(err))
	}
	return api.NewError(api.CodeUpstreamError, "upstream stream broke: "+shortReason(err))
}

var (
	usageMarker = []byte(`"usage"`)
	doneMarker  = []byte("[DONE]")
)

// observeChat reads a chat event for accounting: [DONE] and usage. The
// cheap byte checks keep ordinary chunks from being decoded. It reports
// whether the event carried usage.
func observeChat(ev []byte, res *relayResult) bool {
	hasUsage := bytes.Contains(ev, usageMarker)
	hasDone := bytes.Contains(ev, doneMarker)
	if !hasUsage && !hasDone {
		return false
	}
	data := eventData(ev)
	if hasDone && string(bytes.TrimSpace(data)) == "[DONE]" {
		res.Done = true
		return false
	}
	if u, ok := api.ChunkUsage(data); ok {
		res.Usage, res.HasUsage = u, true
		return true
	}
	return false
}

// eventData returns the event's data: the value of its data lines joined by
// '\n' (a sub-slice of ev for the usual single data line).
func eventData(ev []byte) []byte {
	var data []byte
	n := 0
	for len(ev) > 0 {
		var line []byte
		if i := bytes.IndexByte(ev, '\n'); i >= 0 {
			line, ev = ev[:i], ev[i+1:]
		} else {
			line, ev = ev, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		v, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue
		}
		v = bytes.TrimPrefix(v, []byte(" "))
		switch n {
		case 0:
			data = v
		case 1:
			data = append(append(append([]byte(nil), data...), '\n'), v...)
		default:
			data = append(append(data, '\n'), v...)
		}
		n++
	}
	return data
}

func isBlankLine(l []byte) bool {
	return len(l) == 1 && l[0] == '\n' || len(l) == 2 && l[0] == '\r' && l[1] == '\n'
}

// streamWriter serialises writes to the client between the relay loop and
// the keep-alive timer. The timer is a time.AfterFunc, so a stream costs no
// goroutine while it waits; the silence it measures is read from now, the
// server's clock.
type streamWriter struct {
	mu        sync.Mutex
	w         http.ResponseWriter
	rc        *http.ResponseController
	now       func() time.Time
	pingEvent []byte // the dialect's keep-alive
	keepalive time.Duration
	timer     *time.Timer
	last      time.Time // last write, the start of the current silence
	pings     int
	err       error // first write or flush error: the client is gone
	sent      bool  // the headers are out (with an event, or alone)
	stopped   bool
	onStack   bool // the first write needs no offStack (see writeInPlace)
}

func newStreamWriter(w http.ResponseWriter, keepalive time.Duration, now func() time.Time, ping []byte) *streamWriter {
	return newStreamWriterDelay(w, keepalive, headerFlushDelay, now, ping)
}

// newStreamWriterDelay is newStreamWriter with the headers' wait for the
// first event given (tests use it to take timing out of their checks).
func newStreamWriterDelay(w http.ResponseWriter, keepalive, headerDelay time.Duration, now func() time.Time, ping []byte) *streamWriter {
	sw := &streamWriter{w: w, rc: http.NewResponseController(w), now: now, pingEvent: ping, keepalive: keepalive, last: now()}
	if keepalive > 0 {
		sw.mu.Lock()
		sw.timer = time.AfterFunc(min(keepalive, headerDelay), sw.ping)
		sw.mu.Unlock()
	}
	return sw
}

// headerFlushDelay is how long a stream's headers wait for its first event
// so both leave in one write: one system call, one packet and one wakeup
// of the client fewer per stream. A first event slower than that (a model
// thinking) finds the headers sent already, by the keep-alive timer.
const headerFlushDelay = 20 * time.Millisecond

// write sends p and flushes it.
func (sw *streamWriter) write(p []byte) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !sw.sent && !sw.onStack {
		return offStackErr(func() error { return sw.writeLocked(p) })
	}
	return sw.writeLocked(p)
}

func (sw *streamWriter) writeLocked(p []byte) error {
	if sw.err != nil {
		return sw.err
	}
	if _, err := sw.w.Write(p); err != nil {
		sw.err = err
		return err
	}
	if err := sw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		sw.err = err
		return err
	}
	sw.last = sw.now()
	if !sw.sent && sw.timer != nil && !sw.stopped {
		// The headers left with this event: the timer's next check is the
		// keep-alive's, not the header wait's (a callback, and its
		// goroutine, fewer per stream).
		sw.timer.Reset(sw.keepalive)
	}
	sw.sent = true
	return nil
}

// writeInPlace makes the first write happen on the caller's goroutine: a
// detached stream's goroutine writes to the connection directly, with no
// deep net/http call to keep off its stack (see offStack).
func (sw *streamWriter) writeInPlace() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.onStack = true
}

// flush sends the headers (off the handler's stack unless writeInPlace:
// see offStack).
func (sw *streamWriter) flush() error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	flush := sw.rc.Flush
	if !sw.onStack {
		flush = func() error { return offStackErr(sw.rc.Flush) }
	}
	if err := flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		sw.err = err
		return err
	}
	sw.sent = true
	return nil
}

// ping is the timer callback: a keep-alive comment if the stream has been
// silent for keepalive, then it re-arms itself for the next check. Checking
// the time of the last write (instead of resetting the timer on every event)
// keeps the per-event path free of timer work.
func (sw *streamWriter) ping() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.stopped || sw.err != nil {
		return
	}
	if !sw.sent {
		// The first event is late: the headers go on their own.
		if err := sw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			sw.err = err
			return
		}
		sw.sent = true
	}
	if wait := sw.keepalive - sw.now().Sub(sw.last); wait > 0 {
		sw.timer.Reset(wait)
		return
	}
	if sw.writeLocked(sw.pingEvent) == nil {
		sw.pings++
	}
	sw.timer.Reset(sw.keepalive)
}

// stop disarms the timer; after it returns no write happens, so the handler
// may return and the ResponseWriter be reused.
func (sw *streamWriter) stop() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.stopped = true
	if sw.timer != nil {
		sw.timer.Stop()
	}
}

func (sw *streamWriter) failed() bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.err != nil
}

func (sw *streamWriter) pingCount() int {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.pings
}

// streamErrorCode is the error code a stream's end gets on its Entry (for
// the access log and usage accounting): "" for a clean end.
func streamErrorCode(res *relayResult) string {
	switch {
	case res.ClientGone:
		return codeClientClosedRequest
	case res.Err == nil:
		return ""
	case isTimeout(res.Err):
		return string(api.CodeUpstreamTimeout)
	}
	return string(api.CodeUpstreamError)
}

// logRelay logs how a stream ended.
func logRelay(r *http.Request, res *relayResult) {
	log := middleware.LoggerFrom(r.Context())
	switch {
	case res.ClientGone:
		log.Debug().Int("events", res.Events).Msg("client left during the stream")
	case res.Err != nil:
		log.Warn().Int("events", res.Events).Str("error", api.Redact(res.Err.Error())).Msg("upstream stream ended with an error")
	default:
		ev := log.Debug().Int("events", res.Events).Int("pings", res.Pings).Bool("done", res.Done)
		if res.HasUsage {
			ev = ev.Int64("prompt_tokens", res.Usage.PromptTokens).Int64("completion_tokens", res.Usage.CompletionTokens)
		}
		ev.Msg("stream relayed")
	}
}
