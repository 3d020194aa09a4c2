package anthropic_test

import (
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
)

// copilotModels is a Copilot model list as GET /models returned it for a
// business seat in late 2026 (ids only), chat and embedding models mixed.
var copilotModels = []string{
	"gpt-4o", "gpt-4o-mini", "gpt-4o-2024-11-20", "gpt-4.1", "gpt-4.1-2025-04-14", "gpt-5", "gpt-5-mini",
	"gpt-5.1", "gpt-5.1-codex", "gpt-5.2", "o3-mini", "o4-mini",
	"claude-3.5-sonnet", "claude-3.7-sonnet", "claude-3.7-sonnet-thought",
	"claude-sonnet-4", "claude-sonnet-4.5", "claude-sonnet-4.6",
	"claude-opus-4", "claude-opus-41", "claude-opus-4.5", "claude-opus-4.6", "claude-opus-4.6-1m",
	"claude-haiku-4.5",
	"gemini-2.0-flash-001", "gemini-2.5-pro", "gemini-3-pro-preview", "grok-code-fast-1",
	"text-embedding-3-small", "text-embedding-ada-002",
}

var (
	noOneM = []string{"claude-opus-4.6", "claude-opus-4.5", "claude-sonnet-4.5", "gpt-4.1"}
	older  = []string{"claude-3.5-sonnet", "claude-3.7-sonnet", "claude-sonnet-4", "gpt-4o"}
)

// canonicalCases are real model ids as clients send them, against the
// lists above.
var canonicalCases = []struct {
	id     string
	listed []string
	want   string // "" = no match
}{
	// Anthropic ids as Claude Code and the SDKs send them.
	{"claude-sonnet-4-5-20250929", copilotModels, "claude-sonnet-4.5"},
	{"claude-sonnet-4-5", copilotModels, "claude-sonnet-4.5"},
	{"claude-sonnet-4-6", copilotModels, "claude-sonnet-4.6"},
	{"claude-opus-4-6", copilotModels, "claude-opus-4.6"},
	{"claude-opus-4-6[1m]", copilotModels, "claude-opus-4.6-1m"},
	{"claude-opus-4-6[1m]", noOneM, "claude-opus-4.6"},
	{"claude-sonnet-4-5-20250929[1m]", copilotModels, "claude-sonnet-4.5"},
	{"claude-opus-4-5-20251101", copilotModels, "claude-opus-4.5"},
	{"claude-opus-4-1-20250805", copilotModels, "claude-opus-41"},
	{"claude-opus-4-1", copilotModels, "claude-opus-41"},
	{"claude-opus-4-20250514", copilotModels, "claude-opus-4"},
	{"claude-sonnet-4-20250514", copilotModels, "claude-sonnet-4"},
	{"claude-haiku-4-5-20251001", copilotModels, "claude-haiku-4.5"},
	{"claude-haiku-4-5", copilotModels, "claude-haiku-4.5"},
	{"claude-3-7-sonnet-20250219", copilotModels, "claude-3.7-sonnet"},
	{"claude-3-7-sonnet-latest", copilotModels, "claude-3.7-sonnet"},
	{"claude-3-5-sonnet-20241022", copilotModels, "claude-3.5-sonnet"},
	{"claude-3-5-sonnet-latest", copilotModels, "claude-3.5-sonnet"},
	// Not listed: the newest listed model of the family.
	{"claude-3-5-haiku-latest", copilotModels, "claude-haiku-4.5"},
	{"claude-3-5-haiku-20241022", copilotModels, "claude-haiku-4.5"},
	{"claude-3-haiku-20240307", copilotModels, "claude-haiku-4.5"},
	{"claude-3-opus-20240229", copilotModels, "claude-opus-4.6"},
	{"claude-opus-4-8", copilotModels, "claude-opus-4.6"},
	{"claude-sonnet-5", copilotModels, "claude-sonnet-4.6"},
	{"claude-sonnet-4-5-20250929", older, "claude-sonnet-4"},
	{"claude-haiku-4-5", older, ""},
	// Aliases and other spellings.
	{"sonnet", copilotModels, "claude-sonnet-4.6"},
	{"opus", copilotModels, "claude-opus-4.6"},
	{"opus[1m]", copilotModels, "claude-opus-4.6-1m"},
	{"haiku", copilotModels, "claude-haiku-4.5"},
	{"claude-sonnet", copilotModels, "claude-sonnet-4.6"},
	{"Claude-Sonnet-4-5", copilotModels, "claude-sonnet-4.5"},
	{"anthropic/claude-sonnet-4.5", copilotModels, "claude-sonnet-4.5"},
	{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", copilotModels, "claude-sonnet-4.5"},
	{"claude-sonnet-4-5@20250929", copilotModels, "claude-sonnet-4.5"},
	{"claude-4-sonnet", copilotModels, "claude-sonnet-4"},
	{"claude-3-7-sonnet-thought", copilotModels, "claude-3.7-sonnet-thought"},
	// Listed ids, exactly or ignoring case, are kept.
	{"claude-sonnet-4.5", copilotModels, "claude-sonnet-4.5"},
	{"claude-3.7-sonnet-thought", copilotModels, "claude-3.7-sonnet-thought"},
	{"claude-opus-41", copilotModels, "claude-opus-41"},
	{"CLAUDE-OPUS-4.6-1M", copilotModels, "claude-opus-4.6-1m"},
	{"gpt-5", copilotModels, "gpt-5"},
	{"GPT-4o", copilotModels, "gpt-4o"},
	{"gpt-5.1-codex", copilotModels, "gpt-5.1-codex"},
	{"gpt-4o[1m]", copilotModels, "gpt-4o"},
	// Nothing maps.
	{"claude-fable-5", copilotModels, ""},
	{"claude-mythos-preview", copilotModels, ""},
	{"claude-2.1", copilotModels, ""},
	{"claude-instant-1.2", copilotModels, ""},
	{"gpt-6", copilotModels, ""},
	{"llama-3.1-70b", copilotModels, ""},
	{"", copilotModels, ""},
	{"claude-sonnet-4-5", nil, ""},
	{"[1m]", copilotModels, ""},
	{"latest", copilotModels, ""},
}

func TestCanonicalModel(t *testing.T) {
	t.Parallel()
	for _, tt := range canonicalCases {
		got, ok := anthropic.CanonicalModel(tt.id, tt.listed)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("CanonicalModel(%q) = %q, %v; want %q", tt.id, got, ok, tt.want)
		}
	}
}
