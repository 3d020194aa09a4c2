package anthropic_test

import (
	"encoding/json"
	"fmt"

	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
)

// streamed is what a client rebuilds from a Messages stream, the way the
// Anthropic SDKs accumulate one.
type streamed struct {
	blocks     []anthropic.Block
	partial    map[int]string // tool_use input JSON as streamed, by block
	stopReason string
	usage      anthropic.Usage
	failed     bool
}

type wireEvent struct {
	Type    string `json:"type"`
	Index   *int   `json:"index"`
	Message *struct {
		ID      string            `json:"id"`
		Type    string            `json:"type"`
		Role    string            `json:"role"`
		Content []json.RawMessage `json:"content"`
		Usage   *anthropic.Usage  `json:"usage"`
	} `json:"message"`
	ContentBlock *anthropic.Block `json:"content_block"`
	Delta        *struct {
		Type        string  `json:"type"`
		Text        *string `json:"text"`
		PartialJSON *string `json:"partial_json"`
		StopReason  *string `json:"stop_reason"`
	} `json:"delta"`
	Usage *anthropic.Usage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// checkEvents checks a whole event sequence against the grammar Claude Code
// accepts (see StreamFromChat) and returns what it carried:
// message_start, then blocks each started at the next index, given deltas
// of its own kind and stopped before the next starts, then message_delta
// and message_stop; or an error event, which ends the stream anywhere.
func checkEvents(events []anthropic.Event) (streamed, error) {
	out := streamed{partial: map[int]string{}}
	st := checker{open: -1}
	for i, e := range events {
		var w wireEvent
		if err := json.Unmarshal(e.Data, &w); err != nil {
			return out, fmt.Errorf("event %d: data is not JSON: %s", i, e.Data)
		}
		if w.Type != e.Type {
			return out, fmt.Errorf("event %d: data type %q under event %q", i, w.Type, e.Type)
		}
		if st.ended {
			return out, fmt.Errorf("event %d (%s) after the end of the stream", i, e.Type)
		}
		if err := st.step(i, &w, &out); err != nil {
			return out, err
		}
	}
	if !st.ended {
		return out, fmt.Errorf("stream ends without message_stop or error")
	}
	return out, nil
}

type checker struct {
	started, delta, ended bool
	open, next            int
}

func (c *checker) step(i int, w *wireEvent, out *streamed) error {
	if w.Type == anthropic.EventError {
		if w.Error == nil || w.Error.Type == "" || w.Error.Message == "" {
			return fmt.Errorf("event %d: error without type or message", i)
		}
		c.ended, out.failed = true, true
		return nil
	}
	if !c.started && w.Type != anthropic.EventMessageStart {
		return fmt.Errorf("event %d: %s before message_start", i, w.Type)
	}
	switch w.Type {
	case anthropic.EventMessageStart:
		return c.messageStart(i, w, out)
	case anthropic.EventContentBlockStart:
		return c.blockStart(i, w, out)
	case anthropic.EventContentBlockDelta:
		return c.blockDelta(i, w, out)
	case anthropic.EventContentBlockStop:
		if w.Index == nil || *w.Index != c.open {
			return fmt.Errorf("event %d: stop of a block that is not open", i)
		}
		c.open = -1
	case anthropic.EventMessageDelta:
		return c.messageDelta(i, w, out)
	case anthropic.EventMessageStop:
		if !c.delta {
			return fmt.Errorf("event %d: message_stop before message_delta", i)
		}
		c.ended = true
	case anthropic.EventPing:
	default:
		return fmt.Errorf("event %d: unknown type %q", i, w.Type)
	}
	return nil
}

func (c *checker) messageStart(i int, w *wireEvent, out *streamed) error {
	m := w.Message
	if c.started || m == nil || m.ID == "" || m.Type != "message" || m.Role != "assistant" || m.Content == nil || len(m.Content) != 0 || m.Usage == nil {
		return fmt.Errorf("event %d: bad or repeated message_start", i)
	}
	c.started = true
	out.usage = *m.Usage
	return nil
}

func (c *checker) blockStart(i int, w *wireEvent, out *streamed) error {
	b := w.ContentBlock
	switch {
	case c.delta:
		return fmt.Errorf("event %d: block after message_delta", i)
	case c.open >= 0:
		return fmt.Errorf("event %d: block %d starts while %d is open", i, *w.Index, c.open)
	case w.Index == nil || *w.Index != c.next:
		return fmt.Errorf("event %d: block index not %d", i, c.next)
	case b == nil:
		return fmt.Errorf("event %d: no content_block", i)
	case b.Type == anthropic.BlockToolUse && (b.ID == "" || b.Name == "" || string(b.Input) != "{}"):
		return fmt.Errorf("event %d: tool_use start needs id, name and input {}: %+v", i, b)
	case b.Type != anthropic.BlockToolUse && (b.Type != anthropic.BlockText || b.Text != ""):
		return fmt.Errorf("event %d: bad block start %+v", i, b)
	}
	c.open, c.next = c.next, c.next+1
	out.blocks = append(out.blocks, anthropic.Block{Type: b.Type, ID: b.ID, Name: b.Name})
	return nil
}

func (c *checker) blockDelta(i int, w *wireEvent, out *streamed) error {
	if w.Index == nil || *w.Index != c.open || w.Delta == nil {
		return fmt.Errorf("event %d: delta not for the open block", i)
	}
	b := &out.blocks[c.open]
	switch {
	case b.Type == anthropic.BlockText && w.Delta.Type == "text_delta" && w.Delta.Text != nil && *w.Delta.Text != "":
		b.Text += *w.Delta.Text
	case b.Type == anthropic.BlockToolUse && w.Delta.Type == "input_json_delta" && w.Delta.PartialJSON != nil && *w.Delta.PartialJSON != "":
		out.partial[c.open] += *w.Delta.PartialJSON
	default:
		return fmt.Errorf("event %d: %s delta (or an empty one) in a %s block", i, w.Delta.Type, b.Type)
	}
	return nil
}

func (c *checker) messageDelta(i int, w *wireEvent, out *streamed) error {
	if c.open >= 0 || c.delta || w.Delta == nil || w.Delta.StopReason == nil || w.Usage == nil {
		return fmt.Errorf("event %d: bad message_delta (open block, repeated, or no stop_reason/usage)", i)
	}
	c.delta = true
	out.stopReason = *w.Delta.StopReason
	out.usage.Merge(*w.Usage)
	return nil
}
