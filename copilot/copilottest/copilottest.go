// Package copilottest is the fake GitHub + Copilot upstream for tests: a
// thin wrapper over copilot/copilotfake that adds New(tb), which closes the
// fake when the test ends. Everything else (Server, its options, faults,
// Clock, the constants) is copilotfake's, re-exported here so tests need
// one import. Only test code imports this package: it links testing, and
// the gateway binary must not (its demo uses copilotfake directly).
//
// See copilotfake for what the fake serves, its controls and its tool-call
// convention.
package copilottest

import (
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilotfake"
)

// New starts the fake on a loopback port; it is closed with tb.Cleanup.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := copilotfake.NewServer(opts...)
	tb.Cleanup(s.Close)
	return s
}

// Types of copilotfake, under the names tests use.
type (
	// Server is the fake upstream (copilotfake.Server).
	Server = copilotfake.Server
	// Option configures a Server at construction.
	Option = copilotfake.Option
	// Request is one request the fake received.
	Request = copilotfake.Request
	// CancelInfo reports a request the client cancelled mid-response.
	CancelInfo = copilotfake.CancelInfo
	// Fault makes a Copilot API route misbehave.
	Fault = copilotfake.Fault
	// DeviceFlowConfig scripts the GitHub device flow.
	DeviceFlowConfig = copilotfake.DeviceFlowConfig
	// Clock is a manually driven clock.
	Clock = copilotfake.Clock
)

// The Copilot API paths the fake serves.
const (
	PathChat       = copilotfake.PathChat
	PathResponses  = copilotfake.PathResponses
	PathMessages   = copilotfake.PathMessages
	PathModels     = copilotfake.PathModels
	PathEmbeddings = copilotfake.PathEmbeddings
)

// The fake's defaults and fixed values (see copilotfake for each).
const (
	DefaultChatContent        = copilotfake.DefaultChatContent
	DefaultChatQuotaHeader    = copilotfake.DefaultChatQuotaHeader
	DefaultChunks             = copilotfake.DefaultChunks
	DefaultCompletionTokens   = copilotfake.DefaultCompletionTokens
	DefaultDeviceExpiresIn    = copilotfake.DefaultDeviceExpiresIn
	DefaultDeviceInterval     = copilotfake.DefaultDeviceInterval
	DefaultExpiresIn          = copilotfake.DefaultExpiresIn
	DefaultModelsJSON         = copilotfake.DefaultModelsJSON
	DefaultPremiumQuotaHeader = copilotfake.DefaultPremiumQuotaHeader
	DefaultPromptTokens       = copilotfake.DefaultPromptTokens
	DefaultReasoningSummary   = copilotfake.DefaultReasoningSummary
	DefaultReasoningTokens    = copilotfake.DefaultReasoningTokens
	DefaultRefreshIn          = copilotfake.DefaultRefreshIn
	DefaultSKU                = copilotfake.DefaultSKU
	DefaultThinking           = copilotfake.DefaultThinking
	DefaultUserCode           = copilotfake.DefaultUserCode
	DefaultUserJSON           = copilotfake.DefaultUserJSON
	EmbeddingDims             = copilotfake.EmbeddingDims
	GitHubToken               = copilotfake.GitHubToken
	HeaderCost                = copilotfake.HeaderCost
	ToolCallArguments         = copilotfake.ToolCallArguments
	ToolTrigger               = copilotfake.ToolTrigger
)

// NewServer starts the fake without a test to close it; the caller calls
// Close.
func NewServer(opts ...Option) *Server { return copilotfake.NewServer(opts...) }

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock { return copilotfake.NewClock(start) }

// WithTokenLifetime sets the issued Copilot tokens' lifetime and refresh_in.
func WithTokenLifetime(expiresIn, refreshIn time.Duration) Option {
	return copilotfake.WithTokenLifetime(expiresIn, refreshIn)
}

// WithEndpointsAPI sets what the token response's endpoints.api says.
func WithEndpointsAPI(url string) Option { return copilotfake.WithEndpointsAPI(url) }

// WithGitHubToken sets the GitHub token the fake accepts.
func WithGitHubToken(tok string) Option { return copilotfake.WithGitHubToken(tok) }

// WithModelsJSON sets the body of GET /models at construction.
func WithModelsJSON(body string) Option { return copilotfake.WithModelsJSON(body) }

// WithoutRecording turns off the record of requests.
func WithoutRecording() Option { return copilotfake.WithoutRecording() }

// WithTLS serves the fake over TLS with HTTP/2.
func WithTLS(maxStreams int) Option { return copilotfake.WithTLS(maxStreams) }

// WithAnswer sets the model's answer text.
func WithAnswer(text string) Option { return copilotfake.WithAnswer(text) }

// AnthropicErrorBody is the Messages API's error body for status.
func AnthropicErrorBody(status int) string { return copilotfake.AnthropicErrorBody(status) }

// ModelIDs lists the model IDs of a GET /models body.
func ModelIDs(modelsJSON string) []string { return copilotfake.ModelIDs(modelsJSON) }

// PrefixedModelsJSON is DefaultModelsJSON with every ID and name prefixed.
func PrefixedModelsJSON(prefix, namePrefix string) string {
	return copilotfake.PrefixedModelsJSON(prefix, namePrefix)
}

// ToolResultReply is the model's answer to a tool result output.
func ToolResultReply(output string) string { return copilotfake.ToolResultReply(output) }
