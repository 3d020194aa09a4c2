package gateway

import (
	"bufio"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// echoTranslator turns each upstream event into "event: got" with the
// upstream's type and data; "[END]" data marks the stream complete and
// "boom" is an upstream failure.
type echoTranslator struct{ complete bool }

func (e *echoTranslator) start() [][]byte { return [][]byte{sseEvent("start", []byte("{}"))} }
func (e *echoTranslator) event(typ string, data []byte) ([][]byte, error) {
	switch string(data) {
	case "[END]":
		e.complete = true
		return nil, nil
	case "boom":
		return nil, errors.New("upstream said boom")
	}
	return [][]byte{sseEvent("got", []byte(typ+"|"+string(data)))}, nil
}
func (e *echoTranslator) finish() ([][]byte, bool) {
	return [][]byte{sseEvent("end", []byte("{}"))}, e.complete
}
func (e *echoTranslator) fail(err *api.Error) [][]byte {
	return [][]byte{sseEvent("failed", []byte(err.Message))}
}
func (e *echoTranslator) usage() (api.Usage, bool) { return api.Usage{}, false }

func TestTranslateEvents(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 3*relayBufferSize)
	tests := []struct {
		name, upstream, want string
		err                  bool
	}{
		{"typed and data-only events, comments, CRLF, multi-line data",
			"event: a\ndata: 1\n\n: comment\n\ndata: 2\r\n\r\ndata: x\ndata: y\n\ndata: " + long + "\n\ndata: [END]\n\n",
			"event: start\ndata: {}\n\nevent: got\ndata: a|1\n\nevent: got\ndata: |2\n\nevent: got\ndata: |x\ny\n\nevent: got\ndata: |" + long + "\n\nevent: end\ndata: {}\n\n", false},
		{"last event without blank line", "data: 1\n\ndata: [END]",
			"event: start\ndata: {}\n\nevent: got\ndata: |1\n\nevent: end\ndata: {}\n\n", false},
		{"cut before the last event", "data: 1\n\n",
			"event: start\ndata: {}\n\nevent: got\ndata: |1\n\nevent: failed\ndata: upstream stream broke: " + errTranslatedCut.Error() + "\n\n", true},
		{"failure inside the stream", "data: 1\n\ndata: boom\n\ndata: 2\n\n",
			"event: start\ndata: {}\n\nevent: got\ndata: |1\n\nevent: failed\ndata: upstream stream failed: upstream said boom\n\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &flushRecorder{}
			out := newStreamWriter(rec, -1, time.Now, commentPing)
			defer out.stop()
			res := translateEvents(context.Background(), bufio.NewReaderSize(strings.NewReader(tt.upstream), relayBufferSize), out, &echoTranslator{}, time.Now)
			if string(rec.written) != tt.want {
				t.Errorf("written\n%q\nwant\n%q", rec.written, tt.want)
			}
			if (res.Err != nil) != tt.err || res.Done == tt.err {
				t.Errorf("err %v done %v, want error %v", res.Err, res.Done, tt.err)
			}
		})
	}
}
