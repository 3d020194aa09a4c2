package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/internal/mutation"
)

// usageRef is Usage's decoding as it was, on encoding/json: the reference
// the hand-written walk must agree with.
type usageRef Usage

type cachedDetailsRef struct {
	CachedTokens int64 `json:"cached_tokens"`
}

func (u *usageRef) UnmarshalJSON(b []byte) error {
	var w struct {
		PromptTokens     int64             `json:"prompt_tokens"`
		CompletionTokens int64             `json:"completion_tokens"`
		TotalTokens      int64             `json:"total_tokens"`
		InputTokens      int64             `json:"input_tokens"`
		OutputTokens     int64             `json:"output_tokens"`
		CacheRead        int64             `json:"cache_read_input_tokens"`
		CacheCreation    int64             `json:"cache_creation_input_tokens"`
		PromptDetails    *cachedDetailsRef `json:"prompt_tokens_details"`
		InputDetails     *cachedDetailsRef `json:"input_tokens_details"`
		CachedTokens     int64             `json:"cached_tokens"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	cached := w.CacheRead + w.CachedTokens
	for _, d := range []*cachedDetailsRef{w.PromptDetails, w.InputDetails} {
		if d != nil {
			cached += d.CachedTokens
		}
	}
	*u = usageRef{
		PromptTokens:     w.PromptTokens + w.InputTokens + w.CacheRead + w.CacheCreation,
		CompletionTokens: w.CompletionTokens + w.OutputTokens,
		TotalTokens:      w.TotalTokens,
		CachedTokens:     cached,
	}
	return nil
}

func chunkUsageRef(data []byte) (Usage, bool) {
	if !hasUsageObject(data) {
		return Usage{}, false
	}
	var w struct {
		Usage *usageRef `json:"usage"`
	}
	if err := json.Unmarshal(data, &w); err != nil || w.Usage == nil {
		return Usage{}, false
	}
	return Usage(*w.Usage).clamped(), true
}

// tailUsageRef is TailUsage's search decoding with encoding/json.
func tailUsageRef(tail []byte) (Usage, bool) {
	return tailUsage(tail, func(rest []byte) (Usage, bool) {
		var u usageRef
		err := json.NewDecoder(bytes.NewReader(rest)).Decode(&u)
		return Usage(u), err == nil
	})
}

var usageCases = []string{
	`{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}}`,
	`{"usage":{"input_tokens":5,"output_tokens":2,"cache_read_input_tokens":3,"cache_creation_input_tokens":1}}`,
	`{"usage":{"prompt_tokens":9,"prompt_tokens_details":{"cached_tokens":4}}}`,
	`{"usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":4},"output_tokens_details":{"reasoning_tokens":2}}}`,
	`{"usage":{"prompt_tokens_details":{"cached_tokens":4},"prompt_tokens_details":{}}}`,
	`{"usage":{"prompt_tokens_details":{"cached_tokens":4},"prompt_tokens_details":null,"prompt_tokens":5}}`,
	`{"usage":{"prompt_tokens_details":null},"x":1}`, `{"usage":{"prompt_tokens_details":5}}`, `{"usage":{"prompt_tokens_details":[]}}`,
	`{"usage":{"PROMPT_TOKENS":3,"Completion_Tokens":2}}`, `{"usage":{"prompt_tokens":3,"prompt_tokens":4}}`,
	`{"usage":{"prompt_tokens":null,"completion_tokens":2}}`, `{"usage":{"prompt_tokens":1.0}}`, `{"usage":{"prompt_tokens":1e2}}`,
	`{"usage":{"prompt_tokens":"11"}}`, `{"usage":{"prompt_tokens":true}}`, `{"usage":{"prompt_tokens":99999999999999999999}}`,
	`{"usage":{"prompt_tokens":-1}}`, `{"usage":{"prompt_t\u006fkens":7}}`, `{"usage":{"cached_tokens":2,"prompt_tokens":5}}`,
	`{"usage":null}`, `{"Usage":{"prompt_tokens":1}}`, `{"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`,
	`{"usage":{"prompt_tokens":1},"usage":null}`, `{"usage":{"prompt_tokens":"x"},"usage":{"prompt_tokens":2}}`,
	`{"usage":{"prompt_tokens":1}} trailing`, `{"usage":{"prompt_tokens":1}`, `[{"usage":{"prompt_tokens":1}}]`, `"usage"`,
	`... "total_tokens":18}, "usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`,
	`{"id":"x","choices":[{"index":0,"delta":{"content":"usage"}}]}`, "{\"usage\":{\"\xffprompt\":1,\"prompt_tokens\":2}}",
	`{"usage":{"prompt_tokens":1,"cached_tokens":5}}`, `{"usage":{"prompt_tokens_details":{"CACHED_TOKENS":3,"cached_tokens":null}}}`,
}

func checkUsageSame(t *testing.T, data []byte) {
	t.Helper()
	gu, gok := ChunkUsage(data)
	wu, wok := chunkUsageRef(data)
	if gu != wu || gok != wok {
		t.Fatalf("ChunkUsage(%q) = %+v %v, want %+v %v", data, gu, gok, wu, wok)
	}
	gu, gok = TailUsage(data)
	wu, wok = tailUsageRef(data)
	if gu != wu || gok != wok {
		t.Fatalf("TailUsage(%q) = %+v %v, want %+v %v", data, gu, gok, wu, wok)
	}
}

func TestUsageMatchesReference(t *testing.T) {
	t.Parallel()
	for _, c := range usageCases {
		checkUsageSame(t, []byte(c))
	}
}

// TestUsageMutations: every case, mutated at random, is read alike by both.
func TestUsageMutations(t *testing.T) {
	t.Parallel()
	n := 30000
	if testing.Short() {
		n = 3000
	}
	m := mutation.Mutator{Rand: rand.New(rand.NewPCG(5, 6)), Alphabet: []byte(`{}[]":,\ ntrufl0123456789.-eEusageprompt_tokenscompletioninputcachedreaddetailsPROMPT` + "\xff"), CutOneIn: 6}
	for range n {
		b := m.Mutate(usageCases[m.Rand.IntN(len(usageCases))])
		checkUsageSame(t, b)
	}
}
