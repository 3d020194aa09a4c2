package responses_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

// checkContract checks an event sequence against what Codex CLI (and the
// SDKs' stream accumulators) rely on, returning the first violation:
//
//   - response.created, then response.in_progress, first; exactly one
//     terminal event (completed, incomplete or failed), last;
//   - sequence_number counts from 0 without gaps;
//   - items are added with output_index 0, 1, 2, ..., one open at a time;
//     every event of an item names the open item (id and index);
//   - a message opens an output_text part before its first delta; the
//     done events repeat the concatenated deltas; a function_call is added
//     with call_id and name and empty arguments, and its done events carry
//     the concatenated argument deltas;
//   - the terminal response's output is the list of done items, and a
//     completed or incomplete response has usage.
func checkContract(events []responses.Event) error {
	c := contract{}
	for i, ev := range events {
		if err := c.event(i, ev); err != nil {
			return fmt.Errorf("event %d (%s): %w", i, ev.Type, err)
		}
	}
	if !c.ended {
		return fmt.Errorf("no terminal event")
	}
	return nil
}

type contract struct {
	ended   bool
	done    []json.RawMessage // items of output_item.done, in order
	open    *openState
	nextOut int
}

type openState struct {
	id, typ     string
	index       int
	partOpen    bool
	partClosed  bool
	summaryOpen bool
	text, args  strings.Builder
}

type evWire struct {
	Type         string          `json:"type"`
	Seq          int             `json:"sequence_number"`
	OutputIndex  int             `json:"output_index"`
	ItemID       string          `json:"item_id"`
	Delta        string          `json:"delta"`
	Text         string          `json:"text"`
	Arguments    string          `json:"arguments"`
	Item         json.RawMessage `json:"item"`
	Response     json.RawMessage `json:"response"`
	ContentIndex int             `json:"content_index"`
}

func (c *contract) event(i int, ev responses.Event) error {
	var e evWire
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return err
	}
	switch {
	case c.ended:
		return fmt.Errorf("event after the terminal one")
	case e.Seq != i:
		return fmt.Errorf("sequence_number %d", e.Seq)
	case i == 0 && e.Type != responses.EventCreated, i == 1 && e.Type != responses.EventInProgress:
		return fmt.Errorf("stream must start with response.created, response.in_progress")
	}
	switch e.Type {
	case responses.EventCreated, responses.EventInProgress:
		return nil
	case responses.EventCompleted, responses.EventIncomplete, responses.EventFailed:
		return c.terminal(&e)
	case responses.EventItemAdded:
		return c.added(&e)
	case responses.EventItemDone:
		return c.itemDone(&e)
	}
	return c.inItem(&e)
}

func (c *contract) added(e *evWire) error {
	if c.open != nil {
		return fmt.Errorf("item added while %s is open", c.open.id)
	}
	if e.OutputIndex != c.nextOut {
		return fmt.Errorf("output_index %d, want %d", e.OutputIndex, c.nextOut)
	}
	var it responses.Item
	if err := json.Unmarshal(e.Item, &it); err != nil {
		return err
	}
	if it.ID == "" || it.Status == "completed" {
		return fmt.Errorf("added item without id or already completed: %s", e.Item)
	}
	if it.Type == responses.ItemFunctionCall && (it.CallID == "" || it.Name == "" || it.Arguments != "") {
		return fmt.Errorf("function_call added without call_id and name, or with arguments: %s", e.Item)
	}
	c.open = &openState{id: it.ID, typ: it.Type, index: e.OutputIndex}
	c.nextOut++
	return nil
}

func (c *contract) inItem(e *evWire) error {
	o := c.open
	if o == nil || e.ItemID != o.id || e.OutputIndex != o.index {
		return fmt.Errorf("event for item %s/%d, open item %+v", e.ItemID, e.OutputIndex, o)
	}
	switch e.Type {
	case responses.EventPartAdded:
		o.partOpen = true
	case responses.EventTextDelta:
		if !o.partOpen || o.typ != responses.ItemMessage {
			return fmt.Errorf("OutputTextDelta without active item part")
		}
		o.text.WriteString(e.Delta)
	case responses.EventTextDone, responses.EventSummaryTextDone:
		if e.Text != o.text.String() {
			return fmt.Errorf("done text %q, deltas %q", e.Text, o.text.String())
		}
	case responses.EventPartDone:
		o.partOpen, o.partClosed = false, true
	case responses.EventArgsDelta:
		o.args.WriteString(e.Delta)
	case responses.EventArgsDone:
		if e.Arguments != o.args.String() {
			return fmt.Errorf("arguments %q, deltas %q", e.Arguments, o.args.String())
		}
	case responses.EventSummaryPartAdded:
		o.summaryOpen = true
	case responses.EventSummaryTextDelta:
		if !o.summaryOpen {
			return fmt.Errorf("summary delta without a summary part")
		}
		o.text.WriteString(e.Delta)
	case responses.EventSummaryPartDone:
		o.summaryOpen = false
	default:
		return fmt.Errorf("unexpected event")
	}
	return nil
}

func (c *contract) itemDone(e *evWire) error {
	o := c.open
	if o == nil || e.OutputIndex != o.index {
		return fmt.Errorf("done for an item that is not open")
	}
	var it responses.Item
	if err := json.Unmarshal(e.Item, &it); err != nil {
		return err
	}
	switch {
	case it.ID != o.id || it.Type != o.typ:
		return fmt.Errorf("done item %s/%s, open %s/%s", it.ID, it.Type, o.id, o.typ)
	case o.partOpen || o.summaryOpen:
		return fmt.Errorf("item done with a part open")
	case it.Type == responses.ItemMessage && (!o.partClosed || it.Content.PlainText() != o.text.String()):
		return fmt.Errorf("message text %q, deltas %q", it.Content.PlainText(), o.text.String())
	case it.Type == responses.ItemFunctionCall && it.Arguments != o.args.String():
		return fmt.Errorf("call arguments %q, deltas %q", it.Arguments, o.args.String())
	}
	c.done = append(c.done, e.Item)
	c.open = nil
	return nil
}

func (c *contract) terminal(e *evWire) error {
	c.ended = true
	var r struct {
		Status string            `json:"status"`
		Output []json.RawMessage `json:"output"`
		Usage  *responses.Usage  `json:"usage"`
	}
	if err := json.Unmarshal(e.Response, &r); err != nil {
		return err
	}
	if e.Type != responses.EventFailed && c.open != nil {
		return fmt.Errorf("terminal event with item %s open", c.open.id)
	}
	if e.Type != responses.EventFailed && r.Usage == nil {
		return fmt.Errorf("no usage")
	}
	want := map[string]string{responses.EventCompleted: "completed", responses.EventIncomplete: "incomplete",
		responses.EventFailed: "failed"}[e.Type]
	if r.Status != want {
		return fmt.Errorf("status %q", r.Status)
	}
	if len(r.Output) != len(c.done) {
		return fmt.Errorf("output has %d items, %d were done", len(r.Output), len(c.done))
	}
	for i := range r.Output {
		if string(r.Output[i]) != string(c.done[i]) {
			return fmt.Errorf("output[%d] %s differs from its done item %s", i, r.Output[i], c.done[i])
		}
	}
	return nil
}
