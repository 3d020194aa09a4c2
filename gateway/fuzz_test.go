package gateway

import (
	"bufio"
	"bytes"
	"context"
	"net/http/httptest"
	"testing"
)

// FuzzRelay drives the SSE relay loop with a fuzzed upstream body, read
// through a tiny buffer so long lines take the accumulation path. No input
// may panic; without usage dropping, the client gets every byte of content in
// order (a trailing event without its blank line is terminated, trailing
// blank lines may be left out) and nothing else.
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
		rec := httptest.NewRecorder()
		out := newStreamWriter(rec, -1)
		br := bufio.NewReaderSize(bytes.NewReader(body), 16)
		res := relayEvents(context.Background(), br, out, dropUsage)
		out.stop()
		if res.ClientGone || res.Err != nil && (res.Err != errNoDone || res.Done) {
			t.Fatalf("unexpected end: %+v", res)
		}
		got := rec.Body.Bytes()
		if res.Err == errNoDone {
			// A stream without [DONE] ends with the error event; what came
			// before it obeys the same rules.
			i := bytes.LastIndex(got, []byte("data: {\"error\""))
			if i < 0 {
				t.Fatalf("no final error event for a stream without [DONE]: %q", got)
			}
			got = got[:i]
		}
		if dropUsage {
			if res.Dropped == 0 && !bytes.Equal(got, relayed(body)) && !bytes.HasPrefix(append(bytes.Clone(body), '\n', '\n'), got) {
				t.Fatalf("nothing dropped, yet the output differs:\n%q\n%q", body, got)
			}
			return
		}
		if !bytes.HasPrefix(append(bytes.Clone(body), '\n', '\n'), got) {
			t.Fatalf("output is not the input's bytes in order:\nin  %q\nout %q", body, got)
		}
		if content := bytes.TrimRight(body, "\r\n"); len(got) < len(content) {
			t.Fatalf("content lost:\nin  %q\nout %q", body, got)
		}
	})
}

// relayed is what the relay writes for body when nothing is dropped.
func relayed(body []byte) []byte {
	rec := httptest.NewRecorder()
	out := newStreamWriter(rec, -1)
	relayEvents(context.Background(), bufio.NewReader(bytes.NewReader(body)), out, false)
	out.stop()
	return rec.Body.Bytes()
}

// TestRelayBoundsAnEvent: an upstream event over maxEventSize ends the stream
// with an error event instead of being buffered without bound.
func TestRelayBoundsAnEvent(t *testing.T) {
	t.Parallel()
	body := append([]byte("data: {\"a\":1}\n\ndata: \""), bytes.Repeat([]byte("x"), maxEventSize+10)...)
	rec := httptest.NewRecorder()
	out := newStreamWriter(rec, -1)
	res := relayEvents(context.Background(), bufio.NewReader(bytes.NewReader(body)), out, false)
	out.stop()
	if res.Err == nil || res.Events != 1 {
		t.Fatalf("result %+v", res)
	}
	got := rec.Body.String()
	if !bytes.HasPrefix([]byte(got), []byte("data: {\"a\":1}\n\ndata: {\"error\":")) || len(got) > 1000 {
		t.Fatalf("output %.200q", got)
	}
}
