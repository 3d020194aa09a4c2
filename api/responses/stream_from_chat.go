package responses

import (
	"encoding/json"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// StreamFromChat turns a chat-completions stream into the Responses event
// sequence Codex CLI needs: response.created, response.in_progress, then
// per output item response.output_item.added, its content events and
// response.output_item.done, and last response.completed (or
// response.incomplete, or response.failed).
//
// Items are streamed one at a time, in order of first appearance, as the
// API does: reasoning text (a reasoning item with one summary part), text
// (a message item with one output_text part), and each tool call (a
// function_call item). A new item closes the open one; text that resumes
// after a tool call opens a new message item. Every choice of every chunk
// is read (Copilot may put text and tool calls in different choices); tool
// calls are told apart by choice and index. A tool call's item opens only
// once its id and name are known: argument fragments that come before are
// buffered and sent as the first delta. Argument fragments for a call whose
// item is already closed (only an upstream that interleaves calls sends
// them) cannot be streamed and are not in its output item.
//
// Methods are not safe for concurrent use; after Finish or Fail every
// method returns nothing.
type StreamFromChat struct {
	req       *Request
	names     toolNames
	id        string
	createdAt int64
	include   bool

	seq     int64
	started bool
	ended   bool
	out     []Event

	output []Item // closed items, by output index
	open   *openItem
	calls  []*callState // in order of first appearance
	byKey  map[callKey]*callState
	finish string
	usage  *openai.Usage
	tools  json.RawMessage // the request's tools, encoded once
}

// openItem is the item being streamed.
type openItem struct {
	kind    string // ItemMessage, ItemReasoning or ItemFunctionCall
	index   int
	id      string
	text    strings.Builder
	opaque  strings.Builder
	summary bool // a reasoning item's summary part is open
	call    *callState
}

type callKey struct{ choice, index int }

type callState struct {
	id, name string
	args     strings.Builder
	opened   bool
}

// NewStreamFromChat starts the translation of a chat stream answering req
// as response id (item ids derive from it), created at createdAt (unix
// seconds).
func NewStreamFromChat(req *Request, id string, createdAt int64) *StreamFromChat {
	s := &StreamFromChat{req: req, id: id, createdAt: createdAt, byKey: map[callKey]*callState{}}
	if req != nil {
		s.names, s.include = newToolNames(req.Tools), req.Includes(includeEncrypted)
	} else {
		s.names = newToolNames(nil)
	}
	return s
}

// Start returns response.created and response.in_progress. The other
// methods send them first if Start was not called.
func (s *StreamFromChat) Start() []Event {
	s.begin()
	return s.take()
}

// Chunk returns the events for one chat chunk (none for a chunk that adds
// nothing, such as Copilot's first one with empty choices).
func (s *StreamFromChat) Chunk(c *openai.ChatChunk) []Event {
	s.begin()
	if s.ended || c == nil {
		return s.take()
	}
	for i := range c.Choices {
		s.choice(&c.Choices[i])
	}
	if c.Usage != nil {
		s.usage = c.Usage
	}
	return s.take()
}

// Finish is called at data: [DONE]: it opens the tool calls that never
// got an id (with a derived one; calls with no name are dropped), closes
// the open item, and returns response.completed, or response.incomplete
// when the answer was cut (finish_reason length or content_filter), with
// every output item and the usage of the late usage chunk (zeros when the
// upstream sent none).
func (s *StreamFromChat) Finish() []Event {
	s.begin()
	if s.ended {
		return s.take()
	}
	s.ended = true
	status, details := statusOf(s.finish)
	for _, c := range s.calls {
		if !c.opened && c.name != "" {
			s.openCall(c)
		}
	}
	s.closeOpen(status)
	r := s.response(status)
	r.IncompleteDetails, r.Usage = details, usageFromChat(s.usage)
	typ := EventCompleted
	if status == StatusIncomplete {
		typ = EventIncomplete
	}
	s.push(responseEvent{s.head(typ), r})
	return s.take()
}

// Fail ends a stream that was cut: it closes nothing and returns
// response.failed with the error (code "server_error" when empty) and the
// items completed so far.
func (s *StreamFromChat) Fail(message, code string) []Event {
	s.begin()
	if s.ended {
		return s.take()
	}
	s.ended = true
	if code == "" {
		code = "server_error"
	}
	r := s.response(StatusFailed)
	r.Error = &ResponseError{Code: code, Message: message}
	if s.usage != nil {
		r.Usage = usageFromChat(s.usage)
	}
	s.push(responseEvent{s.head(EventFailed), r})
	return s.take()
}

func (s *StreamFromChat) begin() {
	if s.started {
		return
	}
	s.started = true
	s.push(responseEvent{s.head(EventCreated), s.response(StatusInProgress)})
	s.push(responseEvent{s.head(EventInProgress), s.response(StatusInProgress)})
}

func (s *StreamFromChat) response(status string) *Response {
	r := newResponse(s.req, s.id, s.createdAt, status)
	r.Output = s.output
	if s.tools == nil && len(r.Tools) > 0 {
		// Encoded once: every response event repeats them.
		if b, err := json.Marshal(r.Tools); err == nil {
			s.tools = b
		}
	}
	r.toolsJSON = s.tools
	return r
}

func (s *StreamFromChat) head(typ string) head {
	h := head{Type: typ, Seq: s.seq}
	s.seq++
	return h
}

func (s *StreamFromChat) push(body eventBody) {
	s.out = append(s.out, encodeEvent(body, s.seq-1))
}

func (s *StreamFromChat) take() []Event {
	out := s.out
	s.out = nil
	return out
}

func (s *StreamFromChat) choice(ch *openai.ChunkChoice) {
	d := &ch.Delta
	s.reasoningDelta(d.ReasoningText)
	s.opaqueDelta(d.ReasoningOpaque)
	s.textDelta(d.Content + d.Refusal)
	for i := range d.ToolCalls {
		s.toolCall(ch.Index, i, &d.ToolCalls[i])
	}
	if ch.FinishReason != nil {
		s.finish = worseFinish(s.finish, *ch.FinishReason)
	}
}

func (s *StreamFromChat) openNew(kind, prefix string) *openItem {
	n := len(s.output)
	s.open = &openItem{kind: kind, index: n, id: itemID(prefix, s.id, n)}
	return s.open
}

// closeOpen closes the open item; status is a message's status
// (incomplete when the answer was cut).
func (s *StreamFromChat) closeOpen(status string) {
	o := s.open
	if o == nil {
		return
	}
	s.open = nil
	var it Item
	switch o.kind {
	case ItemMessage:
		it = s.closeMessage(o, status)
	case ItemReasoning:
		it = s.closeReasoning(o)
	default:
		it = s.closeCall(o)
	}
	s.push(itemEvent{s.head(EventItemDone), o.index, &it})
	s.output = append(s.output, it)
}

func (s *StreamFromChat) textDelta(t string) {
	if t == "" {
		return
	}
	if s.open == nil || s.open.kind != ItemMessage {
		s.closeOpen(StatusCompleted)
		o := s.openNew(ItemMessage, prefixMessage)
		it := Item{Type: ItemMessage, ID: o.id, Role: "assistant", Status: StatusInProgress, Content: PartsContent()}
		s.push(itemEvent{s.head(EventItemAdded), o.index, &it})
		s.push(partEvent{s.head(EventPartAdded), o.id, o.index, 0, ContentPart{Type: PartOutputText}})
	}
	o := s.open
	o.text.WriteString(t)
	s.push(textDeltaEvent{s.head(EventTextDelta), o.id, o.index, 0, t, noLogprobs})
}

func (s *StreamFromChat) closeMessage(o *openItem, status string) Item {
	text := o.text.String()
	s.push(textDoneEvent{s.head(EventTextDone), o.id, o.index, 0, text, noLogprobs})
	s.push(partEvent{s.head(EventPartDone), o.id, o.index, 0, ContentPart{Type: PartOutputText, Text: text}})
	return messageItem(o.id, text, status)
}

func (s *StreamFromChat) reasoningDelta(t string) {
	if t == "" {
		return
	}
	o := s.openReasoning()
	if !o.summary {
		o.summary = true
		s.push(summaryPartEvent{s.head(EventSummaryPartAdded), o.id, o.index, 0, SummaryPart{Type: "summary_text"}})
	}
	o.text.WriteString(t)
	s.push(summaryDeltaEvent{s.head(EventSummaryTextDelta), o.id, o.index, 0, t})
}

// opaqueDelta keeps Copilot's reasoning state for the reasoning item's
// encrypted_content. State that comes after the reasoning item closed (or
// with no reasoning text) gets a reasoning item of its own, so that it
// still goes back to the model on the next turn.
func (s *StreamFromChat) opaqueDelta(t string) {
	if t == "" || !s.include {
		return
	}
	s.openReasoning().opaque.WriteString(t)
}

func (s *StreamFromChat) openReasoning() *openItem {
	if s.open != nil && s.open.kind == ItemReasoning {
		return s.open
	}
	s.closeOpen(StatusCompleted)
	o := s.openNew(ItemReasoning, prefixReasoning)
	it := Item{Type: ItemReasoning, ID: o.id, Summary: []SummaryPart{}}
	s.push(itemEvent{s.head(EventItemAdded), o.index, &it})
	return o
}

func (s *StreamFromChat) closeReasoning(o *openItem) Item {
	text := o.text.String()
	if o.summary {
		s.push(summaryDoneEvent{s.head(EventSummaryTextDone), o.id, o.index, 0, text})
		s.push(summaryPartEvent{s.head(EventSummaryPartDone), o.id, o.index, 0, SummaryPart{Type: "summary_text", Text: text}})
	}
	return reasoningItem(o.id, text, o.opaque.String(), s.include)
}

func (s *StreamFromChat) toolCall(choice, pos int, tc *openai.ToolCall) {
	idx := pos
	if tc.Index != nil {
		idx = *tc.Index
	}
	key := callKey{choice, idx}
	c := s.byKey[key]
	// A new id at a known index is a new call (upstreams that send each
	// call whole, without an index).
	if c == nil || (tc.ID != "" && c.id != "" && tc.ID != c.id) {
		c = &callState{}
		s.byKey[key] = c
		s.calls = append(s.calls, c)
	}
	if c.id == "" {
		c.id = tc.ID
	}
	if c.name == "" { // some upstreams repeat the name in every fragment
		c.name = tc.Function.Name
	}
	args := tc.Function.Arguments
	c.args.WriteString(args)
	switch {
	case !c.opened && c.id != "" && c.name != "":
		s.openCall(c)
	case c.opened && args != "" && s.open != nil && s.open.call == c:
		s.push(argsDeltaEvent{s.head(EventArgsDelta), s.open.id, s.open.index, args})
	}
}

func (s *StreamFromChat) openCall(c *callState) {
	s.closeOpen(StatusCompleted)
	o := s.openNew(ItemFunctionCall, prefixCall)
	o.call, c.opened = c, true
	c.id = callID(c.id, s.id, o.index)
	ns, name := s.names.fromChat(c.name)
	it := callItem(o.id, c.id, ns, name, "", StatusInProgress)
	s.push(itemEvent{s.head(EventItemAdded), o.index, &it})
	if args := c.args.String(); args != "" {
		s.push(argsDeltaEvent{s.head(EventArgsDelta), o.id, o.index, args})
	}
}

func (s *StreamFromChat) closeCall(o *openItem) Item {
	c := o.call
	args := c.args.String()
	s.push(argsDoneEvent{s.head(EventArgsDone), o.id, o.index, args})
	ns, name := s.names.fromChat(c.name)
	return callItem(o.id, c.id, ns, name, args, StatusCompleted)
}
