package gateway

import (
	"bufio"
	"bytes"
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// FuzzRelay drives the SSE relay loop with a fuzzed upstream body, read
// through a tiny buffer so long lines take the accumulation path. No input
// may panic; without usage dropping, the client gets every byte of content in
// order (a trailing event without its blank line is terminated, trailing
// blank lines may be left out) and nothing else; with it, the same output
// minus exactly the usage-only events.
func FuzzRelay(f *testing.F) {
	for _, s := range []string{
		"data: {\"choices\":[]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n",
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
		": comment\n\nevent: x\ndata: a\ndata: b\n\n\n\ndata: c",
		"data: x\r\n\r\ndata: y\r\n",
		"\n\n\ndata: [DONE]", "data:" + string(bytes.Repeat([]byte("z"), 100)) + "\n",
		"data: {\"usage\":{\"prompt_tokens\":5}}\n\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, dropUsage bool) {
		res, writes := relayWrites(body, dropUsage)
		if res.ClientGone || res.Err != nil && (res.Err != errNoDone || res.Done) {
			t.Fatalf("unexpected end: %+v", res)
		}
		got := bytes.Join(writes, nil)
		if dropUsage {
			// Exactly the usage-only events are withheld: the output is
			// what the relay sends without dropping, minus those events.
			// (A usage-only chunk whose usage does not parse is sent: only
			// a chunk that was accounted may be withheld.)
			_, all := relayWrites(body, false)
			var want []byte
			dropped := 0
			for _, ev := range all {
				data := eventData(ev)
				if _, accounted := api.ChunkUsage(data); accounted && api.IsUsageOnlyChunk(data) {
					dropped++
					continue
				}
				want = append(want, ev...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("output with usage dropped is not the full output minus the usage-only events:\nin   %q\ngot  %q\nwant %q", body, got, want)
			}
			if res.Dropped != dropped {
				t.Fatalf("Dropped = %d, want %d, for %q", res.Dropped, dropped, body)
			}
			return
		}
		if res.Err == errNoDone {
			// A stream without [DONE] ends with the error event; what came
			// before it obeys the same rules.
			i := bytes.LastIndex(got, []byte("data: {\"error\""))
			if i < 0 {
				t.Fatalf("no final error event for a stream without [DONE]: %q", got)
			}
			got = got[:i]
		}
		if !bytes.HasPrefix(append(bytes.Clone(body), '\n', '\n'), got) {
			t.Fatalf("output is not the input's bytes in order:\nin  %q\nout %q", body, got)
		}
		if content := bytes.TrimRight(body, "\r\n"); len(got) < len(content) {
			t.Fatalf("content lost:\nin  %q\nout %q", body, got)
		}
	})
}

// writeRecorder records each Write separately: the relay writes every event
// (and the final error event) with one Write.
type writeRecorder struct {
	*httptest.ResponseRecorder
	writes [][]byte
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return w.ResponseRecorder.Write(p)
}

// relayWrites relays body, read through a tiny buffer so long lines take the
// accumulation path, and returns the result and the events written.
func relayWrites(body []byte, dropUsage bool) (relayResult, [][]byte) {
	rec := &writeRecorder{ResponseRecorder: httptest.NewRecorder()}
	out := newStreamWriter(rec, -1, time.Now, commentPing)
	br := bufio.NewReaderSize(bytes.NewReader(body), 16)
	res := relayEvents(context.Background(), br, out, ptr(chatDialect(dropUsage)), time.Now)
	out.stop()
	return res, rec.writes
}

// TestRelayBoundsAnEvent: an upstream event over maxEventSize ends the stream
// with an error event instead of being buffered without bound.
func TestRelayBoundsAnEvent(t *testing.T) {
	t.Parallel()
	body := append([]byte("data: {\"a\":1}\n\ndata: \""), bytes.Repeat([]byte("x"), maxEventSize+10)...)
	rec := httptest.NewRecorder()
	out := newStreamWriter(rec, -1, time.Now, commentPing)
	res := relayEvents(context.Background(), bufio.NewReader(bytes.NewReader(body)), out, ptr(chatDialect(false)), time.Now)
	out.stop()
	if res.Err == nil || res.Events != 1 {
		t.Fatalf("result %+v", res)
	}
	got := rec.Body.String()
	if !bytes.HasPrefix([]byte(got), []byte("data: {\"a\":1}\n\ndata: {\"error\":")) || len(got) > 1000 {
		t.Fatalf("output %.200q", got)
	}
}
