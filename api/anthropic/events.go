package anthropic

import (
	"bytes"
	"encoding/json"
)

// Stream event types.
const (
	EventMessageStart      = "message_start"
	EventContentBlockStart = "content_block_start"
	EventContentBlockDelta = "content_block_delta"
	EventContentBlockStop  = "content_block_stop"
	EventMessageDelta      = "message_delta"
	EventMessageStop       = "message_stop"
	EventPing              = "ping"
	EventError             = "error"
)

// Event is one server-sent event of a Messages stream: its type (the SSE
// "event:" line) and its data, a JSON object whose "type" is Type.
type Event struct {
	Type string
	Data []byte
}

// SSE is the event framed for the wire: "event: T\ndata: {...}\n\n".
func (e Event) SSE() []byte {
	out := make([]byte, 0, len(e.Type)+len(e.Data)+16)
	out = append(out, "event: "...)
	out = append(out, e.Type...)
	out = append(out, "\ndata: "...)
	out = append(out, e.Data...)
	return append(out, "\n\n"...)
}

// PingEvent is a ping, the keep-alive of a Messages stream.
func PingEvent() Event {
	return Event{Type: EventPing, Data: []byte(`{"type":"ping"}`)}
}

// ErrorEvent is the `error` event that ends a stream which failed after its
// headers were sent.
func ErrorEvent(typ, message string) Event {
	return Event{Type: EventError, Data: ErrorBody(typ, message)}
}

type messageStartData struct {
	Type    string  `json:"type"`
	Message Message `json:"message"`
}

type blockStartData struct {
	Type         string `json:"type"`
	Index        int    `json:"index"`
	ContentBlock Block  `json:"content_block"`
}

type blockDeltaData struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
	Delta any    `json:"delta"`
}

type textDelta struct {
	Type string `json:"type"` // "text_delta"
	Text string `json:"text"`
}

type inputJSONDelta struct {
	Type        string `json:"type"` // "input_json_delta"
	PartialJSON string `json:"partial_json"`
}

type blockStopData struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

type messageDeltaData struct {
	Type  string        `json:"type"`
	Delta messageDeltas `json:"delta"`
	Usage Usage         `json:"usage"`
}

type messageDeltas struct {
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// event marshals v (whose "type" member is typ) as an Event. The payload
// types here cannot fail to marshal.
func event(typ string, v any) Event {
	data, err := marshal(v)
	if err != nil {
		return ErrorEvent(ErrAPI, "internal error encoding a "+typ+" event")
	}
	return Event{Type: typ, Data: data}
}

// marshal is json.Marshal without HTML escaping: text full of code keeps
// its "<", ">" and "&" as they are (both forms are the same JSON).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
