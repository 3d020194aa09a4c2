package anthropic

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// StreamFromChat converts a chat-completions stream (Copilot's: a first
// chunk with empty choices, content and tool calls possibly in different
// choices, a late usage chunk, [DONE]) into the event sequence of a
// Messages stream, as Claude Code accepts it:
//
//	message_start                  (usage: input_tokens when known, else 0)
//	content_block_start            (text {"text":""} | tool_use {id, name, input:{}})
//	content_block_delta ...        (text_delta | input_json_delta)
//	content_block_stop
//	... more blocks ...
//	message_delta                  (stop_reason, full usage; at [DONE] only)
//	message_stop
//
// One block is open at a time. A tool_use block opens only once the call's
// id and name are known (argument deltas that come first are held), and it
// stays open until its choice has finished or something else must be sent:
// text, or another call, that arrives while it may still grow waits in a
// queue and follows it. Nothing is lost or reordered within a block. Calls
// are told apart by choice and index, and by id when an upstream reuses an
// index.
// Copilot's reasoning_text deltas are not turned into thinking blocks: a
// thinking block needs a signature the client will send back, and only the
// model that made it may see one.
//
// A StreamFromChat is not safe for concurrent use.
type StreamFromChat struct {
	id, model string
	started   bool
	done      bool
	finishing bool
	nextIndex int
	open      *streamBlock
	queue     []*streamBlock
	calls     map[callKey]*streamBlock
	waiting   []*streamBlock // calls whose id or name is not known yet
	finished  map[int]bool   // choices that have a finish_reason
	fin       chatFinish
	usage     *openai.Usage
	out       []Event
}

type callKey struct{ choice, index int }

// streamBlock is a content block being built: text, or a tool call.
type streamBlock struct {
	kind      string // BlockText or BlockToolUse
	index     int    // content block index, once opened
	choice    int    // a call's choice and index in it
	callIndex int
	id, name  string
	pending   strings.Builder // text or arguments not sent yet
}

// NewStreamFromChat starts a conversion for a message id ("msg_...") and
// the model name the client sees.
func NewStreamFromChat(id, model string) *StreamFromChat {
	return &StreamFromChat{id: id, model: model, calls: map[callKey]*streamBlock{}, finished: map[int]bool{}}
}

// Start returns message_start if it has not been sent, so the gateway can
// send it as soon as the upstream answers; Chunk and Finish send it first
// otherwise.
func (s *StreamFromChat) Start() []Event {
	if !s.done {
		s.start()
	}
	return s.flush()
}

// Chunk converts one chat chunk (after the gateway decoded its data) into
// the events it completes. Every choice is read; usage is remembered for
// message_delta.
func (s *StreamFromChat) Chunk(c *openai.ChatChunk) []Event {
	if s.done || c == nil {
		return nil
	}
	if c.Usage != nil {
		s.usage = c.Usage
	}
	s.start()
	for _, ch := range c.Choices {
		s.text(ch.Delta.Content + ch.Delta.Refusal)
		for j := range ch.Delta.ToolCalls {
			s.toolDelta(ch.Index, j, &ch.Delta.ToolCalls[j])
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.finishChoice(ch.Index, *ch.FinishReason)
		}
	}
	return s.flush()
}

// Finish ends the message at [DONE] (or at a clean end of the upstream
// stream after its finish reasons): calls still lacking an id get one, a
// call that never got a name is dropped, every block is closed, then
// message_delta (stop reason and the full usage) and message_stop.
func (s *StreamFromChat) Finish() []Event {
	if s.done {
		return nil
	}
	s.start()
	s.finishing = true
	s.readyWaiting(func(*streamBlock) bool { return true })
	s.drain()
	s.closeOpen()
	stop := s.fin.stopReason()
	s.emit(event(EventMessageDelta, messageDeltaData{Type: EventMessageDelta,
		Delta: messageDeltas{StopReason: stop}, Usage: usageFromChat(s.usage)}))
	s.emit(event(EventMessageStop, struct {
		Type string `json:"type"`
	}{EventMessageStop}))
	s.done = true
	return s.flush()
}

// Fail ends a stream the upstream cut (or that failed otherwise) with an
// `error` event of an Anthropic error type (ErrorType maps a status). Later
// calls return nothing.
func (s *StreamFromChat) Fail(errType, message string) []Event {
	if s.done {
		return nil
	}
	s.done = true
	s.emit(ErrorEvent(errType, message))
	return s.flush()
}

func (s *StreamFromChat) start() {
	if s.started {
		return
	}
	s.started = true
	msg := Message{ID: s.id, Type: "message", Role: RoleAssistant, Model: s.model, Content: []Block{}}
	msg.Usage = usageFromChat(s.usage)
	msg.Usage.OutputTokens = 0
	s.emit(event(EventMessageStart, messageStartData{Type: EventMessageStart, Message: msg}))
}

// text adds text: to the open text block, to a new one, or to the queue
// while a tool block may still grow.
func (s *StreamFromChat) text(t string) {
	switch {
	case t == "":
	case s.open != nil && s.open.kind == BlockText:
		s.emitDelta(s.open, t)
	case s.closable():
		s.closeOpen()
		s.openBlock(&streamBlock{kind: BlockText})
		s.emitDelta(s.open, t)
	default:
		if n := len(s.queue); n > 0 && s.queue[n-1].kind == BlockText {
			s.queue[n-1].pending.WriteString(t)
			return
		}
		b := &streamBlock{kind: BlockText}
		b.pending.WriteString(t)
		s.queue = append(s.queue, b)
	}
}

// toolDelta adds a fragment of a tool call at position pos of a delta.
func (s *StreamFromChat) toolDelta(choice, pos int, tc *openai.ToolCall) {
	index := pos
	if tc.Index != nil {
		index = *tc.Index
	}
	key := callKey{choice, index}
	b, seen := s.calls[key]
	// A known index with another id is another call: some upstreams give
	// every parallel call index 0.
	if !seen || tc.ID != "" && b.id != "" && tc.ID != b.id {
		b = &streamBlock{kind: BlockToolUse, choice: choice, callIndex: index}
		s.calls[key] = b
		s.waiting = append(s.waiting, b)
	}
	if b.id == "" {
		b.id = tc.ID
	}
	if b.name == "" {
		b.name = tc.Function.Name
	}
	b.pending.WriteString(tc.Function.Arguments)
	switch {
	case b == s.open:
		s.sendPending(b)
	case slices.Contains(s.waiting, b) && b.id != "" && b.name != "":
		s.ready(b)
	}
	// A queued call keeps its arguments pending; a closed one (its choice
	// finished and another block followed) can take no more.
}

// ready opens a call whose id and name are known, or queues it.
func (s *StreamFromChat) ready(b *streamBlock) {
	s.waiting = slices.DeleteFunc(s.waiting, func(w *streamBlock) bool { return w == b })
	if !s.closable() {
		s.queue = append(s.queue, b)
		return
	}
	s.closeOpen()
	s.openBlock(b)
	s.sendPending(b)
}

// readyWaiting readies the waiting calls that match and have a name,
// giving those without an id a synthetic one.
func (s *StreamFromChat) readyWaiting(match func(*streamBlock) bool) {
	for _, b := range slices.Clone(s.waiting) {
		if !match(b) || b.name == "" {
			continue
		}
		if b.id == "" {
			b.id = syntheticCallID(s.id, b.choice, b.callIndex)
		}
		s.ready(b)
	}
}

// finishChoice records a choice's finish reason; its tool block may close.
func (s *StreamFromChat) finishChoice(choice int, reason string) {
	s.fin.add(reason)
	s.finished[choice] = true
	s.readyWaiting(func(b *streamBlock) bool { return b.choice == choice })
	s.drain()
}

// closable reports whether the open block may be closed for another: none
// is open, it is text, or it is a tool call that can grow no more.
func (s *StreamFromChat) closable() bool {
	return s.open == nil || s.open.kind == BlockText || s.finishing || s.finished[s.open.choice]
}

// drain opens the queued blocks in order while the open one may close.
func (s *StreamFromChat) drain() {
	for len(s.queue) > 0 && s.closable() {
		s.closeOpen()
		b := s.queue[0]
		s.queue = s.queue[1:]
		s.openBlock(b)
		s.sendPending(b)
	}
}

func (s *StreamFromChat) openBlock(b *streamBlock) {
	b.index = s.nextIndex
	s.nextIndex++
	s.open = b
	block := Block{Type: BlockText}
	if b.kind == BlockToolUse {
		block = Block{Type: BlockToolUse, ID: b.id, Name: b.name, Input: json.RawMessage("{}")}
		s.fin.toolUse = true
	}
	s.emit(event(EventContentBlockStart, blockStartData{Type: EventContentBlockStart, Index: b.index, ContentBlock: block}))
}

func (s *StreamFromChat) closeOpen() {
	if s.open == nil {
		return
	}
	s.emit(event(EventContentBlockStop, blockStopData{Type: EventContentBlockStop, Index: s.open.index}))
	s.open = nil
}

// sendPending sends what an open block holds back.
func (s *StreamFromChat) sendPending(b *streamBlock) {
	if b.pending.Len() == 0 {
		return
	}
	s.emitDelta(b, b.pending.String())
	b.pending.Reset()
}

func (s *StreamFromChat) emitDelta(b *streamBlock, v string) {
	var d any = textDelta{Type: "text_delta", Text: v}
	if b.kind == BlockToolUse {
		d = inputJSONDelta{Type: "input_json_delta", PartialJSON: v}
	}
	s.emit(event(EventContentBlockDelta, blockDeltaData{Type: EventContentBlockDelta, Index: b.index, Delta: d}))
}

func (s *StreamFromChat) emit(e Event) { s.out = append(s.out, e) }

func (s *StreamFromChat) flush() []Event {
	out := s.out
	s.out = nil
	return out
}
