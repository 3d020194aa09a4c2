package anthropic

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// FromChatResponse converts a chat completion to a Message. model and id
// are the Message's (the model the client asked for, an id such as
// "msg_..."); empty, they are taken from the completion. Every choice is
// read (Copilot may put the text in one and the tool calls in another): its
// text (or refusal) becomes a text block, its tool calls tool_use blocks
// whose input is the arguments when they are a JSON object, else
// {"_raw": "<arguments as sent>"} (see toolInput). The stop reason and the
// usage are converted as chatFinish.stopReason and usageFromChat say.
func FromChatResponse(resp *openai.ChatResponse, model, id string) *Message {
	if model == "" {
		model = resp.Model
	}
	if id == "" {
		id = "msg_" + resp.ID
	}
	msg := &Message{ID: id, Type: "message", Role: RoleAssistant, Model: model, Content: []Block{}}
	var fin chatFinish
	for _, ch := range resp.Choices {
		text := ch.Message.Content.PlainText()
		if text == "" {
			text = ch.Message.Refusal
		}
		if text != "" {
			msg.Content = append(msg.Content, Block{Type: BlockText, Text: text})
		}
		for j, tc := range ch.Message.ToolCalls {
			callID := tc.ID
			if callID == "" {
				callID = syntheticCallID(id, ch.Index, j)
			}
			msg.Content = append(msg.Content, Block{Type: BlockToolUse, ID: callID, Name: tc.Function.Name,
				Input: toolInput(tc.Function.Arguments)})
			fin.toolUse = true
		}
		fin.add(ch.FinishReason)
	}
	stop := fin.stopReason()
	msg.StopReason = &stop
	msg.Usage = usageFromChat(resp.Usage)
	return msg
}

// toolInput is a tool call's arguments as a tool_use input, which must be a
// JSON object: the arguments when they are one; {} when empty; otherwise
// (invalid JSON, as a truncated call has, or JSON that is not an object)
// {"_raw": "<arguments as sent>"}, so the client still gets an object and
// nothing is lost.
func toolInput(args string) json.RawMessage {
	trimmed := bytes.TrimSpace([]byte(args))
	switch {
	case len(trimmed) == 0:
		return json.RawMessage("{}")
	case trimmed[0] == '{' && json.Valid(trimmed):
		return trimmed
	}
	raw, _ := json.Marshal(map[string]string{"_raw": args})
	return raw
}

// syntheticCallID names a tool call the upstream gave no id, uniquely
// within the message id.
func syntheticCallID(messageID string, choice, index int) string {
	return "toolu_" + strconv.Itoa(choice) + "_" + strconv.Itoa(index) + "_" + messageID
}

// chatFinish folds the finish reasons of every choice into one stop reason.
type chatFinish struct {
	length, filter bool
	// toolUse: the message has a tool_use block.
	toolUse bool
}

func (f *chatFinish) add(reason string) {
	switch reason {
	case "length":
		f.length = true
	case "content_filter":
		f.filter = true
	}
}

// stopReason maps the finish reasons: length -> max_tokens (first: the
// output, tool calls included, may be cut), content_filter -> refusal, a
// message with tool_use blocks -> tool_use (whether the choice said
// tool_calls or, as Copilot sometimes does, stop; tool_calls without a
// usable call is not tool_use), anything else -> end_turn. The chat API
// does not say which stop sequence matched, so stop_sequence is never
// reported.
func (f chatFinish) stopReason() string {
	switch {
	case f.length:
		return StopMaxTokens
	case f.filter:
		return StopRefusal
	case f.toolUse:
		return StopToolUse
	}
	return StopEndTurn
}

// MarshalMessage encodes a Message as a response body: JSON without HTML
// escaping, no trailing newline.
func MarshalMessage(m *Message) ([]byte, error) {
	return marshal(m)
}
