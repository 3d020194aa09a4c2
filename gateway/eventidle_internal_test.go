package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// pacedChunk is what an upstream sends after a wait.
type pacedChunk struct {
	wait time.Duration
	data string
}

// pacedBody hands out its chunks one per Read, moving the clock by each
// chunk's wait first (the time the upstream took to send it), then EOF.
type pacedBody struct {
	clock  *fakeClock
	chunks []pacedChunk
}

func (b *pacedBody) Read(p []byte) (int, error) {
	if len(b.chunks) == 0 {
		return 0, io.EOF
	}
	c := &b.chunks[0]
	if c.wait > 0 {
		b.clock.advance(c.wait)
		c.wait = 0
	}
	n := copy(p, c.data)
	if c.data = c.data[n:]; c.data == "" {
		b.chunks = b.chunks[1:]
	}
	return n, nil
}

// trickle is s sent one byte per wait.
func trickle(s string, wait time.Duration) []pacedChunk {
	out := make([]pacedChunk, len(s))
	for i := range s {
		out[i] = pacedChunk{wait, s[i : i+1]}
	}
	return out
}

const testIdle = 5 * time.Minute

// relayPaced relays chunks through the passthrough relay with a guard of
// testIdle on a fake clock.
func relayPaced(chunks []pacedChunk) (relayResult, string) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	guard := newEventGuard(&pacedBody{clock: clock, chunks: chunks}, clock.now, testIdle)
	rec := &flushRecorder{}
	out := newStreamWriter(rec, -1, clock.now, commentPing)
	defer out.stop()
	br := bufio.NewReaderSize(guard, relayBufferSize)
	res := relayGuarded(context.Background(), br, out, ptr(chatDialect(false)), clock.now, guard, new(eventBuffers))
	return *res, string(rec.written)
}

// translatePaced is relayPaced through the translated relay (echoTranslator).
func translatePaced(chunks []pacedChunk) (relayResult, string) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	guard := newEventGuard(&pacedBody{clock: clock, chunks: chunks}, clock.now, testIdle)
	rec := &flushRecorder{}
	out := newStreamWriter(rec, -1, clock.now, commentPing)
	defer out.stop()
	br := bufio.NewReaderSize(guard, relayBufferSize)
	res := translateGuarded(context.Background(), br, out, &echoTranslator{}, clock.now, guard)
	return res, string(rec.written)
}

func wantIdleTimeout(t *testing.T, res relayResult, written, lastEvent string) {
	t.Helper()
	var ie *eventIdleError
	if !errors.As(res.Err, &ie) || streamErrorCode(&res) != string(api.CodeUpstreamTimeout) {
		t.Fatalf("err %v (code %q), want the stream idle timeout", res.Err, streamErrorCode(&res))
	}
	if !strings.Contains(written, lastEvent) || !strings.Contains(written, "stream idle timeout") {
		t.Fatalf("written %q", written)
	}
}

// TestRelayTrickleWithoutEventTimesOut: an upstream that sends a byte a
// minute without ever ending an event (which re-arms the transport's idle
// timer each time) is cut once the stream idle timeout passed since the
// last complete event, with the upstream_timeout error event.
func TestRelayTrickleWithoutEventTimesOut(t *testing.T) {
	t.Parallel()
	chunks := append([]pacedChunk{{0, "data: {\"a\":1}\n\n"}}, trickle(strings.Repeat("x", 60), time.Minute)...)
	res, written := relayPaced(chunks)
	wantIdleTimeout(t, res, written, `data: {"a":1}`)
	if res.Events != 1 || !strings.Contains(written, `"code":"upstream_timeout"`) {
		t.Fatalf("events %d, written %q", res.Events, written)
	}

	// Lines that never end an event (no blank line) do not count either.
	res, written = relayPaced(append([]pacedChunk{{0, "data: {\"a\":1}\n\n"}}, trickle(strings.Repeat("data: x\n", 2), time.Minute)...))
	wantIdleTimeout(t, res, written, `data: {"a":1}`)
}

// TestTranslateTrickleWithoutEventTimesOut: the same on a translated
// stream, which ends with the translator's failure events.
func TestTranslateTrickleWithoutEventTimesOut(t *testing.T) {
	t.Parallel()
	chunks := append([]pacedChunk{{0, "data: 1\n\n"}}, trickle("data: 2", time.Minute)...)
	res, written := translatePaced(chunks)
	wantIdleTimeout(t, res, written, "data: |1")
	if !strings.Contains(written, "event: failed\ndata: upstream stream idle timeout") {
		t.Fatalf("written %q", written)
	}
}

// slowEvents is n complete events each taking 4 minutes to arrive (in
// one-minute pieces), below testIdle, then the stream's end; total well
// over testIdle.
func slowEvents(n int, event, last string) []pacedChunk {
	var chunks []pacedChunk
	for range n {
		half := len(event) / 2
		chunks = append(chunks, pacedChunk{time.Minute, event[:half]}, pacedChunk{time.Minute, event[half:]},
			pacedChunk{2 * time.Minute, "\n"})
	}
	return append(chunks, pacedChunk{time.Minute, last})
}

// TestRelaySlowEventsNotCut: complete events spaced below the stream idle
// timeout keep a stream going however long it lasts in total.
func TestRelaySlowEventsNotCut(t *testing.T) {
	t.Parallel()
	res, written := relayPaced(slowEvents(6, "data: {\"a\":1}\n", "data: [DONE]\n\n"))
	if res.Err != nil || !res.Done || res.Events != 7 || strings.Contains(written, "error") {
		t.Fatalf("result %+v, written %q", res, written)
	}
	res, written = translatePaced(slowEvents(6, "data: 1\n", "data: [END]\n\n"))
	if res.Err != nil || !res.Done || strings.Count(written, "event: got") != 6 {
		t.Fatalf("result %+v, written %q", res, written)
	}
}

// TestRelayGuardOff: a zero idle timeout turns the guard off.
func TestRelayGuardOff(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	chunks := append(trickle("data: 1\n", time.Hour), pacedChunk{0, "\n"})
	g := newEventGuard(&pacedBody{clock: clock, chunks: chunks}, clock.now, 0)
	got, err := io.ReadAll(g)
	if err != nil || string(got) != "data: 1\n\n" {
		t.Fatalf("read %q, %v", got, err)
	}
	var nilGuard *eventGuard
	nilGuard.mark() // a relay without a guard notes nothing
}

// TestEventOver1MiBEndsStream: an upstream event over 1 MiB ends the
// stream with the error event, on the passthrough and translated relays.
func TestEventOver1MiBEndsStream(t *testing.T) {
	t.Parallel()
	if maxEventSize != 1<<20 {
		t.Fatalf("maxEventSize %d, want 1 MiB", maxEventSize)
	}
	big := "data: \"" + strings.Repeat("x", 1<<20) + "\"\n\n"
	res, written := relayPaced([]pacedChunk{{0, "data: {\"a\":1}\n\n"}, {0, big}, {0, "data: [DONE]\n\n"}})
	if !errors.Is(res.Err, errEventTooLarge) || res.Events != 1 || streamErrorCode(&res) != string(api.CodeUpstreamError) ||
		!strings.Contains(written, "exceeds 1 MiB") || len(written) > 4<<10 {
		t.Fatalf("result %+v, written %d bytes", res, len(written))
	}
	res, written = translatePaced([]pacedChunk{{0, "data: 1\n\n"}, {0, big}, {0, "data: [END]\n\n"}})
	if !errors.Is(res.Err, errEventTooLarge) || !strings.Contains(written, "event: failed") || len(written) > 4<<10 {
		t.Fatalf("result %+v, written %d bytes", res, len(written))
	}
	// Just under the bound passes.
	ok := "data: \"" + strings.Repeat("x", maxEventSize-16) + "\"\n\n"
	if res, _ = relayPaced([]pacedChunk{{0, ok}, {0, "data: [DONE]\n\n"}}); res.Err != nil || !res.Done {
		t.Fatalf("result %+v", res)
	}
}
