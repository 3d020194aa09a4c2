//go:build !notiktoken

package anthropic

import (
	"fmt"
	"strings"
	"sync"

	tiktoken "github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// Encodings NewTiktokenEncoder knows.
const (
	EncodingO200k  = "o200k_base"
	EncodingCl100k = "cl100k_base"
)

// tiktokenPatterns are the pre-tokenization patterns of the encodings, as
// OpenAI's tiktoken defines them.
var tiktokenPatterns = map[string]string{
	EncodingO200k: strings.Join([]string{
		`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
		`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
		`\p{N}{1,3}`,
		` ?[^\s\p{L}\p{N}]+[\r\n/]*`,
		`\s*[\r\n]+`,
		`\s+(?!\S)`,
		`\s+`,
	}, "|"),
	EncodingCl100k: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
}

// TiktokenEncoder is an Encoder backed by an OpenAI BPE encoding, loaded
// from the ranks embedded in tiktoken-go-loader: no network, no files, and
// none of tiktoken-go's global loader state.
type TiktokenEncoder struct {
	tk *tiktoken.Tiktoken
}

// NewTiktokenEncoder loads an encoding (EncodingO200k or EncodingCl100k).
// Loading takes about a second of CPU and tens of MB: keep one.
func NewTiktokenEncoder(name string) (*TiktokenEncoder, error) {
	pattern, ok := tiktokenPatterns[name]
	if !ok {
		return nil, fmt.Errorf("unknown encoding %q", name)
	}
	ranks, err := tiktokenloader.NewOfflineLoader().LoadTiktokenBpe(name + ".tiktoken")
	if err != nil {
		return nil, err
	}
	bpe, err := tiktoken.NewCoreBPE(ranks, map[string]int{}, pattern)
	if err != nil {
		return nil, err
	}
	return &TiktokenEncoder{tk: tiktoken.NewTiktoken(bpe, &tiktoken.Encoding{Name: name, PatStr: pattern}, nil)}, nil
}

// CountTokens implements Encoder. Special tokens ("<|endoftext|>") in the
// text count as ordinary text.
func (e *TiktokenEncoder) CountTokens(text string) int {
	return len(e.tk.EncodeOrdinary(text))
}

// defaultEncoder loads the default encoding once, on first use.
var defaultEncoder = sync.OnceValue(func() Encoder {
	enc, err := NewTiktokenEncoder(EncodingO200k)
	if err != nil {
		return EstimateEncoder{}
	}
	return enc
})

// DefaultEncoder is the Encoder CountTokens uses: o200k_base, loaded on
// first use, about 0.3 s and 22 MB of heap (EstimateEncoder if that ever
// fails). Build with -tags notiktoken to leave the tokenizer and its
// embedded encodings (about 7 MB of binary) out.
func DefaultEncoder() Encoder { return defaultEncoder() }
