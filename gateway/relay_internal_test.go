package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// flushRecorder records each Write and each Flush, to prove one write and one
// flush per event.
type flushRecorder struct {
	header  http.Header
	ops     []string // "w:<bytes>" or "f"
	written []byte
}

func (f *flushRecorder) Header() http.Header {
	if f.header == nil {
		f.header = http.Header{}
	}
	return f.header
}
func (f *flushRecorder) WriteHeader(int) {}
func (f *flushRecorder) Write(p []byte) (int, error) {
	f.ops = append(f.ops, "w:"+string(p))
	f.written = append(f.written, p...)
	return len(p), nil
}
func (f *flushRecorder) Flush() { f.ops = append(f.ops, "f") }

func runRelay(t testing.TB, body io.Reader) (relayResult, *flushRecorder) {
	rec := &flushRecorder{}
	out := newStreamWriter(rec, -1, time.Now, commentPing)
	defer out.stop()
	br := bufio.NewReaderSize(body, relayBufferSize)
	return relayEvents(context.Background(), br, out, ptr(chatDialect(false)), time.Now), rec
}

func TestRelayOneWriteAndFlushPerEvent(t *testing.T) {
	t.Parallel()
	events := []string{
		"data: {\"n\":1}\n\n",
		"\ndata: {\"n\":2}\n\n", // a stray blank line travels with the next event
		": keep\n\n",
		"data: " + strings.Repeat("x", 3*relayBufferSize) + "\n\n",
		"data: [DONE]\n\n",
	}
	// All events arrive in one read: they must still go out one by one.
	res, rec := runRelay(t, strings.NewReader(strings.Join(events, "")))
	var want []string
	for _, ev := range events {
		want = append(want, "w:"+ev, "f")
	}
	if strings.Join(rec.ops, "|") != strings.Join(want, "|") {
		t.Errorf("ops = %q\nwant %q", rec.ops, want)
	}
	if res.Events != len(events) || !res.Done || res.Err != nil || res.ClientGone {
		t.Errorf("result = %+v", res)
	}
}

func TestRelayObservesUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		stream    string
		wantUsage bool
		want      [3]int64
		wantDone  bool
	}{
		{
			name: "usage chunk with empty choices",
			stream: "data: {\"choices\":[],\"usage\":null}\n\n" +
				"data: {\"choices\":[{\"delta\":{\"content\":\"the usage\"}}],\"usage\":null}\n\n" +
				"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":22,\"total_tokens\":33}}\n\n" +
				"data: [DONE]\n\n",
			wantUsage: true, want: [3]int64{11, 22, 33}, wantDone: true,
		},
		{
			name:      "usage without choices, CRLF, no space after data:",
			stream:    "data:{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\r\n\r\ndata: [DONE]\n\n",
			wantUsage: true, want: [3]int64{1, 2, 3}, wantDone: true,
		},
		{
			name: "no usage",
			// "[DONE]" inside a chunk's content is not the end of the
			// stream: the stream ends without [DONE], so with an error event.
			stream: "data: {\"choices\":[{\"delta\":{\"content\":\"[DONE]\"}}]}\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, rec := runRelay(t, iotest.HalfReader(strings.NewReader(tt.stream)))
			want := tt.stream
			if !tt.wantDone {
				want += string(api.ErrorEvent(streamError(errNoDone)))
			}
			if string(rec.written) != want {
				t.Errorf("written = %q", rec.written)
			}
			if res.HasUsage != tt.wantUsage || res.Done != tt.wantDone {
				t.Fatalf("HasUsage=%v Done=%v, want %v %v", res.HasUsage, res.Done, tt.wantUsage, tt.wantDone)
			}
			got := [3]int64{res.Usage.PromptTokens, res.Usage.CompletionTokens, res.Usage.TotalTokens}
			if tt.wantUsage && got != tt.want {
				t.Errorf("usage = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventData(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"data: x\n\n":                    "x",
		"data:x\n\n":                     "x",
		"event: e\ndata: a\ndata: b\n\n": "a\nb",
		": c\n\n":                        "",
		"data: a\r\ndata:  b\r\n\r\n":    "a\n b",
	}
	for in, want := range tests {
		if got := string(eventData([]byte(in))); got != want {
			t.Errorf("eventData(%q) = %q, want %q", in, got, want)
		}
	}
}

// discardFlusher is a client that reads everything at once: a
// ResponseWriter that discards what it is sent and can flush.
type discardFlusher struct{ h http.Header }

func (d *discardFlusher) Header() http.Header         { return d.h }
func (d *discardFlusher) WriteHeader(int)             {}
func (d *discardFlusher) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardFlusher) Flush()                      {}

// BenchmarkRelayPerEvent measures relaying one typical content chunk: read,
// frame, write, flush, observe (the loop alone, without the event-idle
// guard that BenchmarkRelayPassthroughPerEvent includes).
func BenchmarkRelayPerEvent(b *testing.B) {
	ev := []byte(`data: {"choices":[{"index":0,"content_filter_offsets":{"check_offset":1,"start_offset":1,"end_offset":2},"delta":{"content":" world"}}],"created":1700000000,"id":"chatcmpl-1","model":"gpt-4o"}` + "\n\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(ev)))
	out := newStreamWriter(&discardFlusher{h: http.Header{}}, -1, time.Now, commentPing)
	defer out.stop()
	br := bufio.NewReaderSize(&benchUpstream{evs: [][]byte{ev}, n: b.N}, relayBufferSize)
	b.ResetTimer()
	res := relayEvents(context.Background(), br, out, ptr(chatDialect(false)), time.Now)
	if res.Events != b.N {
		b.Fatalf("relayed %d events, want %d", res.Events, b.N)
	}
}

func ptr[T any](v T) *T { return &v }

// lockedRecorder is a flushRecorder safe to read while the keep-alive timer
// writes to it.
type lockedRecorder struct {
	mu sync.Mutex
	flushRecorder
}

func (l *lockedRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushRecorder.Write(p)
}

func (l *lockedRecorder) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushRecorder.Flush()
}

func (l *lockedRecorder) opsNow() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ops...)
}

// TestStreamHeadersGoWithTheFirstEvent: a prompt first event carries the
// headers (one write and one flush, no flush of the headers alone before
// it); when the first event is late, the timer sends the headers alone and
// no keep-alive comes before the keep-alive interval.
func TestStreamHeadersGoWithTheFirstEvent(t *testing.T) {
	t.Parallel()
	rec := &lockedRecorder{}
	out := newStreamWriterDelay(rec, time.Hour, time.Hour, time.Now, commentPing)
	if err := out.write([]byte("data: 1\n\n")); err != nil {
		t.Fatal(err)
	}
	out.stop()
	if got := strings.Join(rec.opsNow(), "|"); got != "w:data: 1\n\n|f" {
		t.Errorf("prompt first event: ops %q, want the event then one flush", got)
	}

	late := &lockedRecorder{}
	out = newStreamWriterDelay(late, time.Hour, time.Millisecond, time.Now, commentPing)
	defer out.stop()
	for len(late.opsNow()) == 0 {
		time.Sleep(time.Millisecond) // the timer fires after about 1 ms
	}
	if got := strings.Join(late.opsNow(), "|"); got != "f" || out.pingCount() != 0 {
		t.Errorf("late first event: ops %q, pings %d; want the headers flushed alone", got, out.pingCount())
	}
}

// probedUpstream returns its chunks one per Read (a chunk larger than the
// reader's buffer over several), and before each Read
// calls probe (with the Read's index), so a test can look at the relay's
// state while it waits for the upstream.
type probedUpstream struct {
	chunks []string
	n      int
	probe  func(n int)
	end    error // returned after the chunks; nil: io.EOF
}

func (u *probedUpstream) Read(p []byte) (int, error) {
	u.probe(u.n)
	if u.n >= len(u.chunks) {
		if u.end != nil {
			return 0, u.end
		}
		return 0, io.EOF
	}
	n := copy(p, u.chunks[u.n])
	if u.chunks[u.n] = u.chunks[u.n][n:]; len(u.chunks[u.n]) == 0 {
		u.n++
	}
	return n, nil
}

// TestRelayHoldsNoEventBufferWhileWaiting checks that a stream waiting for
// its next event holds no event buffer (it is back in the pool), and one
// waiting for the rest of an event holds the part it has.
func TestRelayHoldsNoEventBufferWhileWaiting(t *testing.T) {
	t.Parallel()
	first := `data: {"choices":[{"index":0,"delta":{"content":"a"}}]}` + "\n\n"
	up := &probedUpstream{chunks: []string{first, "data: [DONE]\n", "\n"}}
	er := &eventRelay{d: ptr(chatDialect(false)), now: time.Now, bufs: new(eventBuffers)}
	var held []bool
	up.probe = func(int) { held = append(held, er.buf != nil) }
	rec := &flushRecorder{header: http.Header{}}
	er.out = newStreamWriter(rec, -1, time.Now, commentPing)
	defer er.out.stop()
	res := er.run(context.Background(), bufio.NewReaderSize(up, relayBufferSize))
	if res.Events != 2 || !res.Done || res.Err != nil {
		t.Fatalf("relay result %+v", res)
	}
	if got, want := string(rec.written), first+"data: [DONE]\n\n"; got != want {
		t.Errorf("client got %q, want %q", got, want)
	}
	// Reads: before anything, after the first event, in the middle of the
	// second, after it.
	if want := []bool{false, false, true, false}; !slices.Equal(held, want) {
		t.Errorf("event buffer held before each read: %v, want %v", held, want)
	}
	if er.buf != nil || er.ev != nil {
		t.Error("the buffer was not given back at the end")
	}
}

// TestRelayGivesTheEventBufferBack checks that every way a relay ends
// leaves no event buffer held.
func TestRelayGivesTheEventBufferBack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		chunks []string
		err    error // what the upstream's last read returns
		want   error // the relay's error; nil: any
	}{
		{"end in the middle of an event", []string{"data: x\n"}, io.EOF, nil},
		{"read error in the middle of an event", []string{"data: x\n"}, io.ErrUnexpectedEOF, io.ErrUnexpectedEOF},
		{"event over the bound", []string{"data: " + strings.Repeat("x", maxEventSize) + "\n"}, io.EOF, errEventTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := &probedUpstream{chunks: tc.chunks, probe: func(int) {}, end: tc.err}
			er := &eventRelay{d: ptr(chatDialect(false)), now: time.Now, bufs: new(eventBuffers)}
			er.out = newStreamWriter(&flushRecorder{header: http.Header{}}, -1, time.Now, commentPing)
			defer er.out.stop()
			res := er.run(context.Background(), bufio.NewReaderSize(up, relayBufferSize))
			if res.Err == nil || tc.want != nil && !errors.Is(res.Err, tc.want) {
				t.Errorf("relay error %v, want %v", res.Err, tc.want)
			}
			if er.buf != nil || er.ev != nil {
				t.Error("the event buffer is still held")
			}
		})
	}
}
