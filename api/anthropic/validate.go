package anthropic

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// validate checks what decoding cannot: allowed values, required fields of
// each block kind, and the shapes the converters rely on. It is deliberately
// lighter than Anthropic's own validation: what it lets through reaches the
// upstream, which has the last word.
func validate(req *Request) *api.Error {
	if len(req.Messages) == 0 {
		return invalid("messages", "List should have at least 1 item")
	}
	for i, b := range req.System {
		if b.Type != BlockText {
			return invalid("system."+strconv.Itoa(i)+".type", "Input should be 'text'")
		}
	}
	for i, m := range req.Messages {
		path := "messages." + strconv.Itoa(i)
		switch m.Role {
		case RoleUser, RoleAssistant, RoleSystem:
		case "":
			return missing(path + ".role")
		default:
			return invalid(path+".role", "Input should be 'user' or 'assistant'")
		}
		if e := validateBlocks(path+".content", m.Content); e != nil {
			return e
		}
	}
	if e := validateTools(req.Tools); e != nil {
		return e
	}
	if e := validateToolChoice(req.ToolChoice); e != nil {
		return e
	}
	return validateThinking(req.Thinking)
}

// validateBlocks checks each block of a content list (and, one level down,
// the content of tool results).
func validateBlocks(path string, blocks Content) *api.Error {
	for j, b := range blocks {
		p := path + "." + strconv.Itoa(j)
		if e := validateBlock(p, b); e != nil {
			return e
		}
		if b.Type == BlockToolResult {
			if e := validateBlocks(p+".content", b.Content); e != nil {
				return e
			}
		}
	}
	return nil
}

func validateBlock(p string, b Block) *api.Error {
	switch b.Type {
	case "":
		return missing(p + ".type")
	case BlockToolUse:
		if b.ID == "" {
			return missing(p + ".id")
		}
		if b.Name == "" {
			return missing(p + ".name")
		}
		if len(b.Input) > 0 && !isObject(b.Input) {
			return invalid(p+".input", "Input should be a valid dictionary")
		}
	case BlockToolResult:
		if b.ToolUseID == "" {
			return missing(p + ".tool_use_id")
		}
	case BlockImage, BlockDocument:
		if b.Source == nil {
			return missing(p + ".source")
		}
		if b.Source.Type == "" {
			return missing(p + ".source.type")
		}
	}
	return nil
}

func validateTools(tools []Tool) *api.Error {
	for i, t := range tools {
		p := "tools." + strconv.Itoa(i)
		if t.Name == "" {
			return missing(p + ".name")
		}
		if t.IsCustom() && len(t.InputSchema) > 0 && !isObject(t.InputSchema) {
			return invalid(p+".input_schema", "Input should be a valid dictionary")
		}
	}
	return nil
}

func validateToolChoice(tc *ToolChoice) *api.Error {
	if tc == nil {
		return nil
	}
	switch tc.Type {
	case ToolChoiceAuto, ToolChoiceAny, ToolChoiceNone:
	case ToolChoiceTool:
		if tc.Name == "" {
			return missing("tool_choice.name")
		}
	case "":
		return missing("tool_choice.type")
	default:
		return invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
	}
	return nil
}

func validateThinking(t *Thinking) *api.Error {
	if t == nil {
		return nil
	}
	switch t.Type {
	case ThinkingEnabled:
		if t.BudgetTokens < 1 {
			return invalid("thinking.budget_tokens", "Input should be an integer greater than or equal to 1")
		}
	case ThinkingDisabled, ThinkingAdaptive:
	case "":
		return missing("thinking.type")
	default:
		return invalid("thinking.type", "Input should be 'enabled', 'disabled' or 'adaptive'")
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}
