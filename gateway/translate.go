package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// translator turns the events of the upstream's stream (one API) into the
// client's (another). The converters of api/responses and api/anthropic do
// the work; a translator adapts one of them and encodes its events.
type translator interface {
	// start returns the events sent before any upstream one.
	start() [][]byte
	// event translates one upstream event (its type, "" for data-only
	// streams, and its data). An error means the upstream reported a
	// failure inside the stream; the stream then ends with fail.
	event(typ string, data []byte) ([][]byte, error)
	// finish returns the closing events at the upstream's clean end; ok is
	// false when the upstream stream was incomplete (a cut).
	finish() (events [][]byte, ok bool)
	// fail returns the final events of a broken stream.
	fail(e *api.Error) [][]byte
	// usage is the usage seen so far.
	usage() (api.Usage, bool)
}

// errTranslatedCut is the error of an upstream stream that ended cleanly
// before its last event, on a translated path.
var errTranslatedCut = errors.New("the upstream stream ended before its last event")

// translate relays a translated stream: headers, then for each upstream
// event its translation, written and flushed at once, with keep-alives in
// the client's dialect during silences. It notes usage, the error code, the
// stream metrics and a log line like the passthrough relay.
func (rl *relayer) translate(w http.ResponseWriter, r *http.Request, resp *http.Response, tr translator, ping []byte) {
	detachStream(r, resp, func(resp *http.Response) {
		rl.streamStarted(r)
		res := rl.translateRun(w, r, resp, tr, ping)
		rl.streamEnded(r, res)
		noteStream(r, res)
	})
}

// translateRun is the relay of a translated stream; it returns what it
// observed.
func (rl *relayer) translateRun(w http.ResponseWriter, r *http.Request, resp *http.Response, tr translator, ping []byte) *relayResult {
	s := rl.startStream(w, r, resp, http.StatusOK, ping)
	defer s.close()
	res := translateGuarded(r.Context(), s.br, s.out, tr, rl.now, s.guard)
	res.Pings = s.out.pingCount()
	res.Usage, res.HasUsage = tr.usage()
	return &res
}

// translateGuarded is the loop of translate: each upstream event of br is
// translated and written, and noted on guard (the reader under br; nil:
// none).
func translateGuarded(ctx context.Context, br *bufio.Reader, out *streamWriter, tr translator, now func() time.Time, guard *eventGuard) relayResult {
	var res relayResult
	write := func(evs [][]byte) bool {
		for _, ev := range evs {
			if out.write(ev) != nil {
				res.ClientGone = true
				return false
			}
			if res.Events == 0 {
				res.FirstEvent = now()
			}
			res.Events++
		}
		return true
	}
	fail := func(err error, e *api.Error) relayResult {
		res.Err = err
		write(tr.fail(e))
		return res
	}
	if !write(tr.start()) {
		return res
	}
	rd := sseReader{br: br, guard: guard}
	for {
		typ, data, err := rd.next()
		switch {
		case err == io.EOF:
			evs, ok := tr.finish()
			if !ok {
				return fail(errTranslatedCut, streamError(errTranslatedCut))
			}
			res.Done = true
			write(evs)
			return res
		case err != nil && (ctx.Err() != nil || out.failed()):
			res.ClientGone = true
			return res
		case err != nil:
			return fail(err, streamError(err))
		}
		res.noteCost(data)
		evs, terr := tr.event(typ, data)
		if !write(evs) {
			return res
		}
		if terr != nil {
			return fail(terr, api.NewError(api.CodeUpstreamError, "upstream stream failed: "+api.Clip(api.Redact(terr.Error()), 300)))
		}
	}
}

// sseReader reads the events of an SSE body: the event type and the data
// (data lines joined by '\n'). Comments and events without data are
// skipped. No line length limit applies; one event is bounded by
// maxEventSize.
type sseReader struct {
	br    *bufio.Reader
	guard *eventGuard // notes complete events; nil: none
	line  []byte
}

func (s *sseReader) next() (typ string, data []byte, err error) {
	var ev []byte
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && len(ev) > 0 {
				if t, d := parseEvent(ev); d != nil {
					return t, d, nil
				}
			}
			return "", nil, err
		}
		if len(line) == 0 {
			if len(ev) > 0 {
				s.guard.mark()
			}
			if t, d := parseEvent(ev); d != nil {
				return t, d, nil
			}
			ev = ev[:0]
			continue
		}
		if len(ev)+len(line) > maxEventSize {
			return "", nil, errEventTooLarge
		}
		ev = append(append(ev, line...), '\n')
	}
}

// readLine returns one line without its line ending.
func (s *sseReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		part, err := s.br.ReadSlice('\n')
		s.line = append(s.line, part...)
		if len(s.line) > maxEventSize {
			return nil, errEventTooLarge
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && (err != io.EOF || len(s.line) == 0) {
			return nil, err
		}
		return bytes.TrimRight(s.line, "\r\n"), nil
	}
}

// parseEvent reads an event's type and data lines; data is nil without
// any data line.
func parseEvent(ev []byte) (typ string, data []byte) {
	for _, line := range bytes.Split(bytes.TrimSuffix(ev, []byte("\n")), []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("event:")); ok {
			typ = string(bytes.TrimSpace(v))
		} else if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			v = bytes.TrimPrefix(v, []byte(" "))
			if data != nil {
				data = append(data, '\n')
			} else {
				data = make([]byte, 0, len(v))
			}
			data = append(data, v...)
		}
	}
	return typ, data
}

// sseEvent encodes one event: "event: typ" when typ is set, then the data.
func sseEvent(typ string, data []byte) []byte {
	out := make([]byte, 0, len(typ)+len(data)+16)
	if typ != "" {
		out = append(append(append(out, "event: "...), typ...), '\n')
	}
	out = append(append(append(out, "data: "...), data...), "\n\n"...)
	return out
}

// setStreamHeaders sets the headers of an SSE answer.
func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx would otherwise buffer the stream
	h.Del("Content-Length")
}
