package responses

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// StreamToChat turns a Responses event stream into chat-completions
// chunks, for a chat client of a model Copilot serves only on /responses.
//
// The first chunk carries role "assistant"; chunk id, created and model
// come from response.created. output_text deltas become content deltas;
// a function_call item's output_item.added becomes a tool call with its
// id and name, and its argument deltas tool call argument deltas, tool
// call indexes counting the calls in order; reasoning summary deltas
// become reasoning_text deltas (Copilot's chat extension).
// response.completed and response.incomplete give a chunk with the finish
// reason, then a usage chunk (no choices); response.failed and error give
// an *api.Error that the caller sends as the stream's last event. Other
// events give nothing.
//
// Methods are not safe for concurrent use.
type StreamToChat struct {
	id, model string
	created   int64
	roleSent  bool
	done      bool

	calls    map[string]*chatCall // by function_call item id
	byOutput map[int]*chatCall    // by output index, for events without item_id
	ncalls   int
	textSeen map[string]bool // message items that streamed text
}

type chatCall struct {
	index    int
	argsSent bool
}

// NewStreamToChat starts a translation; model names the chunks until
// response.created gives the upstream's.
func NewStreamToChat(model string) *StreamToChat {
	return &StreamToChat{model: model, calls: map[string]*chatCall{}, byOutput: map[int]*chatCall{},
		textSeen: map[string]bool{}}
}

// Done reports whether the stream has ended (completed, incomplete,
// failed or error).
func (s *StreamToChat) Done() bool { return s.done }

// streamEvent holds the members of the events StreamToChat reads.
type streamEvent struct {
	Type         string          `json:"type"`
	Response     *streamResponse `json:"response"`
	Item         *Item           `json:"item"`
	ItemID       string          `json:"item_id"`
	OutputIndex  *int            `json:"output_index"`
	SummaryIndex int             `json:"summary_index"`
	Delta        string          `json:"delta"`
	Arguments    string          `json:"arguments"`
	Code         json.RawMessage `json:"code"`
	Message      string          `json:"message"`
}

// streamResponse is the part of an event's response object that
// StreamToChat reads (the output is not decoded again).
type streamResponse struct {
	ID                string             `json:"id"`
	CreatedAt         float64            `json:"created_at"`
	Model             string             `json:"model"`
	Status            string             `json:"status"`
	Usage             *Usage             `json:"usage"`
	Error             *ResponseError     `json:"error"`
	IncompleteDetails *IncompleteDetails `json:"incomplete_details"`
}

// handled lists the event types StreamToChat decodes; others are skipped
// without decoding.
var handled = map[string]bool{
	EventCreated: true, EventInProgress: true, EventCompleted: true, EventIncomplete: true,
	EventFailed: true, EventError: true, EventItemAdded: true, EventItemDone: true,
	EventTextDelta: true, EventArgsDelta: true, EventArgsDone: true,
	EventSummaryTextDelta: true, EventReasoningTextDelta: true, EventSummaryPartAdded: true,
}

var errBadEvent = errors.New("the upstream sent an event that is not a JSON object")

// Event translates one event: typ is the SSE event name (read from the
// data when empty), data its JSON.
func (s *StreamToChat) Event(typ string, data []byte) ([]openai.ChatChunk, error) {
	if s.done {
		return nil, nil
	}
	if typ == "" {
		var t struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(data, &t) != nil {
			return nil, errBadEvent
		}
		typ = t.Type
	}
	if !handled[typ] {
		return nil, nil
	}
	var ev streamEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, errBadEvent
	}
	return s.event(typ, &ev)
}

func (s *StreamToChat) event(typ string, ev *streamEvent) ([]openai.ChatChunk, error) {
	switch typ {
	case EventCreated, EventInProgress:
		return s.onCreated(ev.Response), nil
	case EventTextDelta:
		s.textSeen[ev.ItemID] = true
		return s.content(ev.Delta), nil
	case EventSummaryTextDelta, EventReasoningTextDelta:
		return s.one(openai.Delta{ReasoningText: ev.Delta}, ev.Delta != ""), nil
	case EventSummaryPartAdded: // summary parts are paragraphs
		return s.one(openai.Delta{ReasoningText: "\n\n"}, ev.SummaryIndex > 0), nil
	case EventItemAdded:
		return s.itemAdded(ev), nil
	case EventArgsDelta, EventArgsDone:
		return s.args(typ, ev), nil
	case EventItemDone:
		return s.itemDone(ev), nil
	case EventCompleted, EventIncomplete:
		s.done = true
		return s.finish(ev.Response), nil
	}
	s.done = true
	return nil, failure(typ, ev)
}

func (s *StreamToChat) onCreated(r *streamResponse) []openai.ChatChunk {
	if r != nil {
		if r.ID != "" {
			s.id = r.ID
		}
		if r.Model != "" {
			s.model = r.Model
		}
		if r.CreatedAt > 0 {
			s.created = int64(r.CreatedAt)
		}
	}
	return s.one(openai.Delta{}, !s.roleSent)
}

// chunk is a chat chunk with one choice; the first one carries the role.
func (s *StreamToChat) chunk(d openai.Delta, finish *string) openai.ChatChunk {
	if !s.roleSent {
		d.Role, s.roleSent = "assistant", true
	}
	return openai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model,
		Choices: []openai.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}

// one is the chunk of d when ok.
func (s *StreamToChat) one(d openai.Delta, ok bool) []openai.ChatChunk {
	if !ok {
		return nil
	}
	return []openai.ChatChunk{s.chunk(d, nil)}
}

func (s *StreamToChat) content(text string) []openai.ChatChunk {
	return s.one(openai.Delta{Content: text}, text != "")
}

func (s *StreamToChat) itemAdded(ev *streamEvent) []openai.ChatChunk {
	it := ev.Item
	if it == nil || it.Type != ItemFunctionCall {
		return nil
	}
	c := s.call(it.ID, ev.OutputIndex)
	tc := openai.ToolCall{Index: &c.index, ID: it.CallID, Type: "function",
		Function: openai.FunctionCall{Name: chatCallName(it.Namespace, it.Name), Arguments: it.Arguments}}
	c.argsSent = it.Arguments != ""
	return []openai.ChatChunk{s.chunk(openai.Delta{ToolCalls: []openai.ToolCall{tc}}, nil)}
}

// call registers a function_call item as the next chat tool call.
func (s *StreamToChat) call(itemID string, outputIndex *int) *chatCall {
	c := &chatCall{index: s.ncalls}
	s.ncalls++
	if itemID != "" {
		s.calls[itemID] = c
	}
	if outputIndex != nil {
		s.byOutput[*outputIndex] = c
	}
	return c
}

func (s *StreamToChat) lookup(itemID string, outputIndex *int) *chatCall {
	if c, ok := s.calls[itemID]; ok && itemID != "" {
		return c
	}
	if outputIndex != nil {
		return s.byOutput[*outputIndex]
	}
	return nil
}

// args sends argument deltas; the done event's full arguments are sent
// only for a call that streamed none.
func (s *StreamToChat) args(typ string, ev *streamEvent) []openai.ChatChunk {
	c := s.lookup(ev.ItemID, ev.OutputIndex)
	if c == nil {
		return nil
	}
	frag := ev.Delta
	if typ == EventArgsDone {
		if c.argsSent {
			return nil
		}
		frag = ev.Arguments
	}
	if frag == "" {
		return nil
	}
	c.argsSent = true
	tc := openai.ToolCall{Index: &c.index, Function: openai.FunctionCall{Arguments: frag}}
	return []openai.ChatChunk{s.chunk(openai.Delta{ToolCalls: []openai.ToolCall{tc}}, nil)}
}

// itemDone sends what an upstream gave only in the finished item: a
// message's text that no delta carried, a call that was never added.
func (s *StreamToChat) itemDone(ev *streamEvent) []openai.ChatChunk {
	it := ev.Item
	if it == nil {
		return nil
	}
	switch it.Type {
	case ItemMessage:
		if !s.textSeen[it.ID] {
			return s.content(it.Content.PlainText())
		}
	case ItemFunctionCall:
		if s.lookup(it.ID, ev.OutputIndex) == nil {
			return s.itemAdded(ev)
		}
	case ItemReasoning:
		if o := responsesOpaque(it); o != "" {
			return s.one(openai.Delta{ReasoningOpaque: o}, true)
		}
	}
	return nil
}

func (s *StreamToChat) finish(r *streamResponse) []openai.ChatChunk {
	resp := &Response{}
	if r != nil {
		resp.Status, resp.IncompleteDetails = r.Status, r.IncompleteDetails
	}
	reason := chatFinish(resp, s.ncalls > 0)
	out := []openai.ChatChunk{s.chunk(openai.Delta{}, &reason)}
	if r != nil && r.Usage != nil {
		out = append(out, openai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created,
			Model: s.model, Choices: []openai.ChunkChoice{}, Usage: chatUsage(r.Usage)})
	}
	return out
}

// failure is the error of a response.failed or error event: the upstream's
// message, with its code when it gave one.
func failure(typ string, ev *streamEvent) *api.Error {
	code, msg := "", ev.Message
	_ = json.Unmarshal(ev.Code, &code) // a code that is not a string is left out
	if typ == EventFailed && ev.Response != nil && ev.Response.Error != nil {
		code, msg = ev.Response.Error.Code, ev.Response.Error.Message
	}
	if strings.TrimSpace(msg) == "" {
		msg = "The upstream response failed."
	}
	e := api.NewError(api.CodeUpstreamError, "Copilot: "+api.Clip(msg, 500))
	if code != "" {
		e.Code = api.Code(api.Clip(code, 64))
	}
	return e
}
