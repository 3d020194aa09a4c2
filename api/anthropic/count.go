package anthropic

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"unicode/utf8"
)

// Encoder counts the tokens of a text with some tokenizer.
type Encoder interface {
	CountTokens(text string) int
}

// EstimateEncoder is the Encoder used when no tokenizer is available: it
// approximates an OpenAI BPE such as o200k_base, about one token per four
// ASCII characters (prose runs a little over, code and JSON under) and one
// per other character (CJK is about one a character; accented letters
// inside Latin words cost less, so this errs high). On the Claude Code
// fixture it is within 3% of o200k_base.
type EstimateEncoder struct{}

// CountTokens implements Encoder.
func (EstimateEncoder) CountTokens(text string) int {
	ascii, other := 0, 0
	for i := 0; i < len(text); {
		if text[i] < utf8.RuneSelf {
			ascii++
			i++
			continue
		}
		_, n := utf8.DecodeRuneInString(text[i:])
		other++
		i += n
	}
	return (ascii+3)/4 + other
}

// DefaultScale converts a count of an OpenAI BPE (o200k_base, cl100k_base,
// EstimateEncoder) to Claude's tokenizer, which is not public: on the same
// text Claude's makes about 16% more tokens for English prose, 21% for math
// and 30% for Python code than GPT-4o's o200k_base (a published comparison
// with Claude 3.5 Sonnet; Anthropic documents no tokenizer change before
// Claude Opus 4.7). 1.15 is the low end and keeps Anthropic's own short
// examples within a few percent; code-heavy requests may still be
// undercounted by about 12%.
const DefaultScale = 1.15

// Fixed parts of the count, fitted to the counts Anthropic documents for
// its token counting examples (count_test.go holds them).
const (
	// requestOverhead: the turn markers around the whole conversation.
	requestOverhead = 1
	// messageOverhead: the role marker of each message and of the system
	// prompt.
	messageOverhead = 1
	// toolPromptAuto and toolPromptForced: the system prompt Anthropic adds
	// when tools are present, for tool_choice auto/none and any/tool
	// (Anthropic's tool use pricing table, Claude 4 models).
	toolPromptAuto   = 346
	toolPromptForced = 313
	// thinkingOverhead: what enabling thinking adds to a request.
	thinkingOverhead = 33
	// imageTokensDefault: an image whose size cannot be read (a URL, a file,
	// WebP). A photo is scaled to about 1.15 megapixels, about 1,550 tokens
	// (Anthropic's example photo counts 1,551 with its prompt).
	imageTokensDefault = 1550
	// pdfTokensPerPage: a PDF page, its text and its picture (Anthropic's
	// one-page example counts 2,188 with its prompt).
	pdfTokensPerPage = 2180
	// newTokenizerFactor: Claude Opus 4.7 and later use a tokenizer that
	// makes about 30% more tokens of the same text (Anthropic's docs).
	newTokenizerFactor = 1.3
)

// TokenCounter counts the input tokens of a Messages request, for
// POST /v1/messages/count_tokens, which Copilot does not serve.
type TokenCounter struct {
	// Encoder tokenizes the text; nil uses DefaultEncoder().
	Encoder Encoder
	// Scale multiplies the Encoder's count of the text; 0 uses
	// DefaultScale.
	Scale float64
}

// TokenCount is the body of a count_tokens response: {"input_tokens": N}.
type TokenCount struct {
	InputTokens int `json:"input_tokens"`
}

// CountTokens counts req with DefaultEncoder and DefaultScale.
func CountTokens(req *Request) int {
	return TokenCounter{}.Count(req)
}

// Count returns the estimated input tokens of req: the text of the system
// prompt, of every message (text, tool_use name and input JSON, tool_result
// text, and the thinking of the current assistant turn only, as Anthropic
// counts it) and of the tools (name, description, input_schema JSON),
// tokenized and scaled, plus the fixed overheads above, images by their
// pixel size (or imageTokensDefault) and PDFs by their pages. For models
// with the newer tokenizer (Claude 4.7 and later) the text part is scaled by
// newTokenizerFactor as well.
func (c TokenCounter) Count(req *Request) int {
	if req == nil {
		return 0
	}
	enc, scale := c.Encoder, c.Scale
	if enc == nil {
		enc = DefaultEncoder()
	}
	if scale <= 0 {
		scale = DefaultScale
	}
	if newTokenizer(req.Model) {
		scale *= newTokenizerFactor
	}
	var t tally
	t.request(req)
	text := float64(enc.CountTokens(t.text.String()))
	return int(math.Ceil(text*scale)) + t.fixed
}

// tally collects the text to tokenize and the fixed token costs.
type tally struct {
	text  strings.Builder
	fixed int
}

func (t *tally) add(s string) {
	if s != "" {
		t.text.WriteString(s)
		t.text.WriteByte('\n')
	}
}

func (t *tally) request(req *Request) {
	t.fixed += requestOverhead
	if len(req.System) > 0 {
		t.fixed += messageOverhead
		t.blocks(req.System, false)
	}
	for i, m := range req.Messages {
		t.fixed += messageOverhead
		current := i == len(req.Messages)-1 && m.Role == RoleAssistant
		t.blocks(m.Content, current)
	}
	t.tools(req)
	if req.Thinking != nil && req.Thinking.Type != ThinkingDisabled {
		t.fixed += thinkingOverhead
	}
}

// blocks counts a content list; thinking counts only in the current
// (last, assistant) turn: Anthropic ignores the thinking of earlier turns.
func (t *tally) blocks(blocks Content, current bool) {
	for _, b := range blocks {
		switch b.Type {
		case BlockText:
			t.add(b.Text)
		case BlockToolUse:
			t.add(b.Name)
			t.add(compactJSON(b.Input))
		case BlockToolResult:
			t.blocks(b.Content, false)
		case BlockThinking:
			if current {
				t.add(b.Thinking)
			}
		case BlockImage:
			t.fixed += imageTokens(b.Source)
		case BlockDocument:
			t.document(b)
		}
	}
}

// document counts a text document's text and a PDF at a fixed estimate.
func (t *tally) document(b Block) {
	t.add(b.Title)
	switch {
	case b.Source == nil:
	case b.Source.Type == "text":
		t.add(b.Source.Data)
	case b.Source.Type == "content":
		t.blocks(b.Source.Content, false)
	default:
		t.fixed += pdfTokens(b.Source)
	}
}

// tools counts the tool definitions and the tool-use system prompt.
func (t *tally) tools(req *Request) {
	if len(req.Tools) == 0 {
		return
	}
	t.fixed += toolPromptAuto
	if tc := req.ToolChoice; tc != nil && (tc.Type == ToolChoiceAny || tc.Type == ToolChoiceTool) {
		t.fixed += toolPromptForced - toolPromptAuto
	}
	for _, tool := range req.Tools {
		t.add(tool.Name)
		t.add(tool.Description)
		t.add(compactJSON(tool.InputSchema))
	}
}

// compactJSON is raw without insignificant whitespace ("" for none).
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// newTokenizer reports whether model uses the tokenizer introduced with
// Claude Opus 4.7: Claude 4.7 and later, Claude 5, Fable, Mythos.
func newTokenizer(model string) bool {
	norm, _ := normalizeModel(model)
	c, ok := parseClaude(norm)
	if !ok {
		return false
	}
	switch c.family {
	case "fable", "mythos":
		return true
	}
	return c.versioned && (c.major > 4 || c.major == 4 && c.minor >= 7)
}
