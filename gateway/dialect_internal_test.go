package gateway

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// TestDialects: each API's stream is relayed byte for byte, its usage read
// from its own events, and a stream that ends without its last event ends
// with that API's error event.
func TestDialects(t *testing.T) {
	t.Parallel()
	responses := []string{
		"event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\"}}\n\n",
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"hi\"}\n\n",
	}
	responsesEnd := "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":11,\"output_tokens\":4,\"total_tokens\":15}}}\n\n"
	messages := []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":21,\"output_tokens\":1}}}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n",
	}
	messagesEnd := "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	tests := []struct {
		name      string
		d         dialect
		events    []string
		end       string
		usage     api.Usage
		failStart string
	}{
		{"responses", responsesDialect, responses, responsesEnd, api.Usage{PromptTokens: 11, CompletionTokens: 4, TotalTokens: 15}, "event: response.failed\ndata: "},
		{"messages", messagesDialect, messages, messagesEnd, api.Usage{PromptTokens: 21, CompletionTokens: 7, TotalTokens: 28}, "event: error\ndata: {\"type\":\"error\""},
	}
	for _, tt := range tests {
		t.Run(tt.name+" complete", func(t *testing.T) {
			stream := strings.Join(tt.events, "") + tt.end
			res, rec := relayWith(tt.d, stream)
			if string(rec.written) != stream || res.Err != nil || !res.Done {
				t.Fatalf("relayed %q (err %v, done %v), want the stream unchanged", rec.written, res.Err, res.Done)
			}
			if !res.HasUsage || res.Usage != tt.usage {
				t.Errorf("usage %+v (%v), want %+v", res.Usage, res.HasUsage, tt.usage)
			}
		})
		t.Run(tt.name+" cut", func(t *testing.T) {
			stream := strings.Join(tt.events, "")
			res, rec := relayWith(tt.d, stream)
			if res.Err != tt.d.cut || !strings.HasPrefix(string(rec.written), stream) {
				t.Fatalf("err %v, written %q", res.Err, rec.written)
			}
			if tail := string(rec.written[len(stream):]); !strings.HasPrefix(tail, tt.failStart) || !strings.HasSuffix(tail, "\n\n") {
				t.Errorf("final event %q, want one starting %q", tail, tt.failStart)
			}
		})
	}
}

func relayWith(d dialect, stream string) (relayResult, *flushRecorder) {
	rec := &flushRecorder{}
	out := newStreamWriter(rec, -1, time.Now, d.ping)
	defer out.stop()
	return relayEvents(context.Background(), bufio.NewReader(strings.NewReader(stream)), out, &d, time.Now), rec
}
