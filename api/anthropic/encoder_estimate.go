//go:build notiktoken

package anthropic

// DefaultEncoder is the Encoder CountTokens uses. This build (-tags
// notiktoken) has no BPE tokenizer: it is EstimateEncoder.
func DefaultEncoder() Encoder { return EstimateEncoder{} }
