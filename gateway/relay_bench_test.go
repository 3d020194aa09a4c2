package gateway

// Benchmarks of the stream relay per upstream event, as a stream runs in
// production (the event-idle guard on, one write and one flush per event),
// over recorded upstream streams replayed in memory: one op is one
// upstream event, read, framed, observed for accounting and written to a
// client that discards it. The recordings repeat for as many events as the
// benchmark needs, so per-stream work (a translated stream's first and
// last events) is counted at its real share.
//
// BenchmarkRelayPassthroughPerEvent is the native path of each dialect
// (chat, Responses, Messages): the exact bytes go through. Its
// "text_drop_usage" case withholds the usage chunk the gateway asked for on
// the client's behalf.
//
// BenchmarkRelayTranslatedPerEvent is the translated path (translateGuarded
// and the translators of translators.go and messages.go): each upstream
// event is decoded, converted (api/responses, api/anthropic), encoded and
// written; events/op is the client events per upstream event. The case
// names say which client is served through which upstream API.
//
//	go test -run '^$' -bench 'Relay' -benchmem ./gateway

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

// benchIdle is the stream idle timeout of the benchmarks' event guard: on,
// as in production, and never reached.
const benchIdle = 5 * time.Minute

// benchClaudeStream is a native Messages stream as Copilot relays Claude's
// for Claude Code: a thinking block with its signature, a ping, text, and
// an Edit tool call whose input streams as JSON fragments.
const benchClaudeStream = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_vrtx_01XKq7","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"cache_creation_input_tokens":1204,"cache_read_input_tokens":19107,"cache_creation":{"ephemeral_5m_input_tokens":1204,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}` + "\n\n" +
	"event: content_block_start\n" +
	`data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}` + "\n\n" +
	"event: ping\n" +
	`data: {"type": "ping"}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The test fails because decodeItem reads r.Body after"}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" the logging middleware consumed it; buffering the body once fixes both."}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCkYIBxgCKkBbTq3vN0o8S1xkQ2ZpZ2h0ZXJzLWFyZS1ub3QtcmVhbC1zaWduYXR1cmVzLWJ1dC10aGV5LWhhdmUtdGhlLXNhbWUtc2l6ZRIMc2lnbmF0dXJlLWlkGgxzaWduYXR1cmUtaWQiMHNpZ25hdHVyZQ=="}}` + "\n\n" +
	"event: content_block_stop\n" +
	`data: {"type":"content_block_stop","index":0}` + "\n\n" +
	"event: content_block_start\n" +
	`data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"The logging middleware reads the body"}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":" before decodeItem does. I'll buffer it once and restore r.Body."}}` + "\n\n" +
	"event: content_block_stop\n" +
	`data: {"type":"content_block_stop","index":1}` + "\n\n" +
	"event: content_block_start\n" +
	`data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_vrtx_01Ed","name":"Edit","input":{}}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"file_path\": \"/home/dev/project/middleware.go\", \"old_str"}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"ing\": \"body, _ := io.ReadAll(r.Body)\", \"new_string\": \"body, _ := io.ReadAll(r.Body)\\n\\tr.Body = io.NopCloser(bytes.NewReader(body))\"}"}}` + "\n\n" +
	"event: content_block_stop\n" +
	`data: {"type":"content_block_stop","index":2}` + "\n\n" +
	"event: message_delta\n" +
	`data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":214}}` + "\n\n" +
	"event: message_stop\n" +
	`data: {"type":"message_stop"}` + "\n\n"

// benchRecording reads a recorded SSE stream and splits it into its events,
// each with its blank line.
func benchRecording(b *testing.B, path string) [][]byte {
	b.Helper()
	raw, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		b.Fatal(err)
	}
	return benchSplit(b, raw)
}

func benchSplit(b *testing.B, raw []byte) [][]byte {
	b.Helper()
	var evs [][]byte
	for _, ev := range bytes.Split(raw, []byte("\n\n")) {
		if len(bytes.TrimSpace(ev)) > 0 {
			evs = append(evs, append(ev, "\n\n"...))
		}
	}
	if len(evs) == 0 {
		b.Fatal("no event in the recording")
	}
	return evs
}

// benchUpstream yields n events, cycling through a recording, one event
// (or what of it fits) per Read, as events arriving apart do; it does not
// allocate.
type benchUpstream struct {
	evs    [][]byte
	n      int
	i, off int
}

func (u *benchUpstream) Read(p []byte) (int, error) {
	if u.n == 0 {
		return 0, io.EOF
	}
	ev := u.evs[u.i]
	c := copy(p, ev[u.off:])
	if u.off += c; u.off == len(ev) {
		u.off, u.n = 0, u.n-1
		u.i = (u.i + 1) % len(u.evs)
	}
	return c, nil
}

// benchStream sets up b.N upstream events of a recording as the relay reads
// them: guarded, through a relay-sized buffer, towards a discardFlusher.
func benchStream(b *testing.B, evs [][]byte, ping []byte) (*bufio.Reader, *eventGuard, *streamWriter) {
	size := 0
	for _, ev := range evs {
		size += len(ev)
	}
	b.ReportAllocs()
	b.SetBytes(int64(size / len(evs)))
	guard := newEventGuard(&benchUpstream{evs: evs, n: b.N}, time.Now, benchIdle)
	out := newStreamWriter(&discardFlusher{h: http.Header{}}, -1, time.Now, ping)
	return bufio.NewReaderSize(guard, relayBufferSize), guard, out
}

// BenchmarkRelayPassthroughPerEvent: one upstream event of a native stream
// relayed, per dialect.
func BenchmarkRelayPassthroughPerEvent(b *testing.B) {
	chatText := benchRecording(b, "../api/responses/testdata/chat_text.sse")
	for _, tc := range []struct {
		name string
		evs  [][]byte
		d    dialect
	}{
		{"chat/text", chatText, chatDialect(false)},
		{"chat/split_tools", benchRecording(b, "../api/responses/testdata/chat_split_tools.sse"), chatDialect(false)},
		{"chat/text_drop_usage", chatText, chatDialect(true)},
		{"responses/codex_reasoning_tool", benchRecording(b, "../api/responses/testdata/responses_stream.sse"), responsesDialect},
		{"messages/claude_thinking_tool", benchSplit(b, []byte(benchClaudeStream)), messagesDialect},
	} {
		b.Run(tc.name, func(b *testing.B) {
			br, guard, out := benchStream(b, tc.evs, tc.d.ping)
			defer out.stop()
			d := tc.d
			b.ResetTimer()
			res := relayGuarded(context.Background(), br, out, &d, time.Now, guard, new(eventBuffers))
			b.StopTimer()
			if res.Events+res.Dropped != b.N || res.ClientGone {
				b.Fatalf("relayed %d events and dropped %d, want %d (result %+v)", res.Events, res.Dropped, b.N, res)
			}
			if b.N >= len(tc.evs) && !res.HasUsage {
				b.Fatal("no usage observed")
			}
		})
	}
}

// benchCycle is the translator of a stream that starts over when the
// recording does: after the per-th upstream event it finishes the current
// translator and starts a fresh one, in the same op, so per-stream events
// count as they do in real streams.
type benchCycle struct {
	fresh func() translator
	cur   translator
	per   int // upstream events of one recorded stream
	n     int // upstream events of the current stream
	in    int // upstream events translated
	cut   int // streams that did not finish cleanly
}

func (c *benchCycle) start() [][]byte {
	c.cur, c.n = c.fresh(), 0
	return c.cur.start()
}

func (c *benchCycle) event(typ string, data []byte) ([][]byte, error) {
	c.in++
	out, err := c.cur.event(typ, data)
	if c.n++; err != nil || c.n < c.per {
		return out, err
	}
	end, ok := c.cur.finish()
	if !ok {
		c.cut++
	}
	return append(append(out, end...), c.start()...), nil
}

func (c *benchCycle) finish() ([][]byte, bool) {
	if c.n == 0 {
		return nil, true
	}
	return c.cur.finish()
}

func (c *benchCycle) fail(e *api.Error) [][]byte { return c.cur.fail(e) }
func (c *benchCycle) usage() (api.Usage, bool)   { return c.cur.usage() }

// BenchmarkRelayTranslatedPerEvent: one upstream event of a translated
// stream: decoded, converted, encoded and written.
func BenchmarkRelayTranslatedPerEvent(b *testing.B) {
	body, err := os.ReadFile(filepath.FromSlash("../api/responses/testdata/codex_request.json"))
	if err != nil {
		b.Fatal(err)
	}
	codex, e := responses.ParseRequest(body)
	if e != nil {
		b.Fatal(e)
	}
	const claude = "claude-sonnet-4-5-20250929"
	codexViaChat := func() translator {
		return &chatToResponses{s: responses.NewStreamFromChat(codex, "resp_0123456789abcdef01234567", 1764412345)}
	}
	chatViaResponses := func() translator {
		return &responsesToChat{s: responses.NewStreamToChat("gpt-5-codex"), includeUsage: true}
	}
	claudeViaChat := func() translator {
		return &chatToMessages{s: anthropic.NewStreamFromChat("msg_0123456789abcdef01234567", claude)}
	}
	claudeViaResponses := func() translator {
		return &chatToMessages{s: anthropic.NewStreamFromChat("msg_0123456789abcdef01234567", claude), via: responses.NewStreamToChat(claude)}
	}
	responsesStream := benchRecording(b, "../api/responses/testdata/responses_stream.sse")
	for _, tc := range []struct {
		name  string
		evs   [][]byte
		fresh func() translator
		ping  []byte
	}{
		{"codex_via_chat/text", benchRecording(b, "../api/responses/testdata/chat_text.sse"), codexViaChat, commentPing},
		{"codex_via_chat/reasoning_tool", benchRecording(b, "../api/responses/testdata/chat_reasoning.sse"), codexViaChat, commentPing},
		{"codex_via_chat/split_tools", benchRecording(b, "../api/responses/testdata/chat_split_tools.sse"), codexViaChat, commentPing},
		{"chat_via_responses/codex_reasoning_tool", responsesStream, chatViaResponses, commentPing},
		{"claude_via_chat/text", benchRecording(b, "../api/anthropic/testdata/streams/text.sse"), claudeViaChat, messagesDialect.ping},
		{"claude_via_chat/parallel_tools", benchRecording(b, "../api/anthropic/testdata/streams/parallel_tools.sse"), claudeViaChat, messagesDialect.ping},
		{"claude_via_chat/split_choices", benchRecording(b, "../api/anthropic/testdata/streams/split_choices.sse"), claudeViaChat, messagesDialect.ping},
		{"claude_via_responses/codex_reasoning_tool", responsesStream, claudeViaResponses, messagesDialect.ping},
	} {
		b.Run(tc.name, func(b *testing.B) {
			br, guard, out := benchStream(b, tc.evs, tc.ping)
			defer out.stop()
			tr := &benchCycle{fresh: tc.fresh, per: len(tc.evs)}
			b.ResetTimer()
			res := translateGuarded(context.Background(), br, out, tr, time.Now, guard)
			b.StopTimer()
			if tr.in != b.N || tr.cut > 0 || res.ClientGone {
				b.Fatalf("translated %d events, want %d; %d streams cut (result %+v)", tr.in, b.N, tr.cut, res)
			}
			b.ReportMetric(float64(res.Events)/float64(b.N), "events/op")
		})
	}
}
