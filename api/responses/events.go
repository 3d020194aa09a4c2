package responses

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Event is one Responses stream event: Type is the SSE event name and
// Data the JSON of the event, which repeats the type and carries a
// sequence_number (monotonic from 0) and, for item events, output_index,
// item_id and content_index as the API sends them.
type Event struct {
	Type string
	Data []byte
}

// Event types.
const (
	EventCreated            = "response.created"
	EventInProgress         = "response.in_progress"
	EventCompleted          = "response.completed"
	EventIncomplete         = "response.incomplete"
	EventFailed             = "response.failed"
	EventError              = "error"
	EventItemAdded          = "response.output_item.added"
	EventItemDone           = "response.output_item.done"
	EventPartAdded          = "response.content_part.added"
	EventPartDone           = "response.content_part.done"
	EventTextDelta          = "response.output_text.delta"
	EventTextDone           = "response.output_text.done"
	EventArgsDelta          = "response.function_call_arguments.delta"
	EventArgsDone           = "response.function_call_arguments.done"
	EventSummaryPartAdded   = "response.reasoning_summary_part.added"
	EventSummaryPartDone    = "response.reasoning_summary_part.done"
	EventSummaryTextDelta   = "response.reasoning_summary_text.delta"
	EventSummaryTextDone    = "response.reasoning_summary_text.done"
	EventReasoningTextDelta = "response.reasoning_text.delta"
)

// head starts every event: its type and sequence number.
type head struct {
	Type string `json:"type"`
	Seq  int64  `json:"sequence_number"`
}

func (h head) eventType() string { return h.Type }

type eventBody interface{ eventType() string }

type responseEvent struct {
	head
	Response *Response `json:"response"`
}

type itemEvent struct {
	head
	OutputIndex int   `json:"output_index"`
	Item        *Item `json:"item"`
}

type partEvent struct {
	head
	ItemID       string      `json:"item_id"`
	OutputIndex  int         `json:"output_index"`
	ContentIndex int         `json:"content_index"`
	Part         ContentPart `json:"part"`
}

// noLogprobs is the empty logprobs list text events carry.
var noLogprobs = []json.RawMessage{}

type textDeltaEvent struct {
	head
	ItemID       string            `json:"item_id"`
	OutputIndex  int               `json:"output_index"`
	ContentIndex int               `json:"content_index"`
	Delta        string            `json:"delta"`
	Logprobs     []json.RawMessage `json:"logprobs"`
}

type textDoneEvent struct {
	head
	ItemID       string            `json:"item_id"`
	OutputIndex  int               `json:"output_index"`
	ContentIndex int               `json:"content_index"`
	Text         string            `json:"text"`
	Logprobs     []json.RawMessage `json:"logprobs"`
}

type argsDeltaEvent struct {
	head
	ItemID      string `json:"item_id"`
	OutputIndex int    `json:"output_index"`
	Delta       string `json:"delta"`
}

type argsDoneEvent struct {
	head
	ItemID      string `json:"item_id"`
	OutputIndex int    `json:"output_index"`
	Arguments   string `json:"arguments"`
}

type summaryPartEvent struct {
	head
	ItemID       string      `json:"item_id"`
	OutputIndex  int         `json:"output_index"`
	SummaryIndex int         `json:"summary_index"`
	Part         SummaryPart `json:"part"`
}

type summaryDeltaEvent struct {
	head
	ItemID       string `json:"item_id"`
	OutputIndex  int    `json:"output_index"`
	SummaryIndex int    `json:"summary_index"`
	Delta        string `json:"delta"`
}

type summaryDoneEvent struct {
	head
	ItemID       string `json:"item_id"`
	OutputIndex  int    `json:"output_index"`
	SummaryIndex int    `json:"summary_index"`
	Text         string `json:"text"`
}

// encodeEvent is the Event of body. The bodies hold only values that
// encode (request fields were decoded from JSON), so an error means a
// caller built a request with invalid raw JSON; the event then keeps its
// type and sequence number rather than vanishing from the sequence.
func encodeEvent(body eventBody, seq int64) Event {
	if re, ok := body.(responseEvent); ok {
		return encodeResponseEvent(re, seq)
	}
	data, err := json.Marshal(body)
	if err != nil {
		data, _ = json.Marshal(head{Type: body.eventType(), Seq: seq})
	}
	return Event{Type: body.eventType(), Data: data}
}

var errNoResponse = errors.New("no response")

// encodeResponseEvent writes a response event around the response's own
// encoding: through encoding/json the response (with the request's tools,
// kilobytes for Codex) would be compacted once more, which made a
// translated stream's start and end cost a third of a millisecond.
func encodeResponseEvent(re responseEvent, seq int64) Event {
	var resp []byte
	err := errNoResponse
	if re.Response != nil {
		resp, err = re.Response.MarshalJSON()
	}
	if err != nil {
		data, _ := json.Marshal(head{Type: re.Type, Seq: seq})
		return Event{Type: re.Type, Data: data}
	}
	typ, _ := json.Marshal(re.Type)
	data := make([]byte, 0, len(resp)+len(typ)+48)
	data = append(data, `{"type":`...)
	data = append(data, typ...)
	data = append(data, `,"sequence_number":`...)
	data = strconv.AppendInt(data, re.Seq, 10)
	data = append(data, `,"response":`...)
	data = append(data, resp...)
	return Event{Type: re.Type, Data: append(data, '}')}
}

// Item ids of a translated response derive from the response id, so they
// are deterministic: response "resp_X" has items "msg_X_0", "fc_X_1",
// "rs_X_2" (the suffix is the output index), and a tool call that came
// without an upstream id gets the call_id "call_X_1".
func itemID(prefix, respID string, index int) string {
	return prefix + "_" + strings.TrimPrefix(respID, "resp_") + "_" + strconv.Itoa(index)
}

// Item id prefixes.
const (
	prefixMessage   = "msg"
	prefixCall      = "fc"
	prefixReasoning = "rs"
	prefixCallID    = "call"
)
