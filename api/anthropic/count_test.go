package anthropic_test

import (
	"encoding/base64"
	"math"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
)

// documented are the token counting examples of Anthropic's documentation
// (build-with-claude/token-counting) with the counts the API returned. The
// image is the ant photo of the docs, here by URL (its size unknown, so the
// default image estimate applies); the PDF's content is not published, so
// a one-page stand-in is used.
var documented = []struct {
	name, body string
	want       int
}{
	{"basic", `{"model":"claude-sonnet-4-5","system":"You are a scientist","messages":[{"role":"user","content":"Hello, Claude"}]}`, 14},
	{"tools", `{"model":"claude-sonnet-4-5","tools":[{"name":"get_weather","description":"Get the current weather in a given location","input_schema":{"type":"object","properties":{"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"}},"required":["location"]}}],"messages":[{"role":"user","content":"What's the weather like in San Francisco?"}]}`, 403},
	{"image", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"}},{"type":"text","text":"Describe this image"}]}]}`, 1551},
	{"thinking", `{"model":"claude-sonnet-4-5","thinking":{"type":"enabled","budget_tokens":16000},"messages":[{"role":"user","content":"Are there an infinite number of prime numbers such that n mod 4 == 3?"},{"role":"assistant","content":[{"type":"thinking","thinking":"This is a nice number theory question. Let's think about it step by step...","signature":"EuYBCkQYAiJAgCs1le6/Pol5Z4/JMomVOouGrWdhYNsH3ukzUECbB6iWrSQtsQuRHJID6lWV..."},{"type":"text","text":"Yes, there are infinitely many prime numbers p such that p mod 4 = 3..."}]},{"role":"user","content":"Can you write a formal proof?"}]}`, 88},
	{"pdf", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"` + onePagePDF + `"}},{"type":"text","text":"Please summarize this document."}]}]}`, 2188},
}

var onePagePDF = base64.StdEncoding.EncodeToString([]byte("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n%%EOF"))

// TestCountTokensDocumented holds CountTokens to Anthropic's documented
// counts, with the default encoder (o200k_base) and with EstimateEncoder.
// The tolerance is 10%, and 3 tokens for the 14-token example.
func TestCountTokensDocumented(t *testing.T) {
	t.Parallel()
	for _, enc := range []anthropic.Encoder{nil, anthropic.EstimateEncoder{}} {
		for _, d := range documented {
			req, e := anthropic.ParseCountTokensRequest([]byte(d.body))
			if e != nil {
				t.Fatal(e)
			}
			got := anthropic.TokenCounter{Encoder: enc}.Count(req)
			t.Logf("%-28T %-8s %5d vs Anthropic %5d (%+.1f%%)", enc, d.name, got, d.want, 100*float64(got-d.want)/float64(d.want))
			if diff := math.Abs(float64(got - d.want)); diff > math.Max(3, 0.10*float64(d.want)) {
				t.Errorf("%T %s: %d tokens, Anthropic counts %d", enc, d.name, got, d.want)
			}
		}
	}
}

// TestCountTokensRules: what counts and what does not.
func TestCountTokensRules(t *testing.T) {
	t.Parallel()
	count := func(body string) int {
		req, e := anthropic.ParseCountTokensRequest([]byte(body))
		if e != nil {
			t.Fatalf("%s: %v", body, e)
		}
		return anthropic.CountTokens(req)
	}
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40)
	msg := func(model, extra string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"` + long + `"}` + extra + `]}`
	}
	base := count(msg("claude-sonnet-4-5", ""))
	if newer := count(msg("claude-opus-4-7", "")); newer < base*12/10 {
		t.Errorf("Opus 4.7 tokenizer: %d vs %d", newer, base)
	}
	// Thinking of an earlier turn is free; of the current (last) turn not.
	thinking := `{"type":"thinking","thinking":"` + long + `","signature":"s"}`
	earlier := count(msg("m", `,{"role":"assistant","content":[`+thinking+`,{"type":"text","text":"ok"}]},{"role":"user","content":"go on"}`))
	current := count(msg("m", `,{"role":"assistant","content":[`+thinking+`]}`))
	if current < earlier+200 || earlier > base+20 {
		t.Errorf("thinking: base %d, earlier turn %d, current turn %d", base, earlier, current)
	}
	// Forced tool choice has a shorter tool prompt than auto.
	tools := `"tools":[{"name":"f","input_schema":{"type":"object"}}]`
	auto := count(`{"model":"m",` + tools + `,"messages":[{"role":"user","content":"x"}]}`)
	forced := count(`{"model":"m",` + tools + `,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]}`)
	if auto-forced != 33 {
		t.Errorf("tool prompt: auto %d, forced %d", auto, forced)
	}
	if anthropic.CountTokens(nil) != 0 {
		t.Error("nil request")
	}
}

// TestImageTokens: a readable PNG is counted by its size (320x200 -> 86),
// a larger one is scaled down first, an unreadable one is the default.
func TestImageTokens(t *testing.T) {
	t.Parallel()
	req := mustParse(t, "image_request.json")
	req.Messages[0].Content = req.Messages[0].Content[:1] // the 320x200 PNG
	withPNG := anthropic.CountTokens(req)
	req.Messages[0].Content[0].Source.Data = "bm90IGFuIGltYWdl"
	unreadable := anthropic.CountTokens(req)
	if withPNG != 2+86 || unreadable != 2+1550 {
		t.Errorf("png %d, unreadable %d", withPNG, unreadable)
	}
}

// TestCountClaudeCode prints the count of the large fixture with each
// encoder (go test -v), for the record in the package docs.
func TestCountClaudeCode(t *testing.T) {
	t.Parallel()
	req := mustParse(t, "claude_code_request.json")
	def := anthropic.CountTokens(req)
	est := anthropic.TokenCounter{Encoder: anthropic.EstimateEncoder{}}.Count(req)
	t.Logf("claude_code_request.json: default encoder %d, estimate %d", def, est)
	if def < 15000 || def > 30000 || math.Abs(float64(est-def)) > 0.08*float64(def) {
		t.Errorf("default %d, estimate %d", def, est)
	}
}
