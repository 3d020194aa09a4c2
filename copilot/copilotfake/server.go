// Package copilotfake is a fake GitHub + Copilot upstream: the token
// exchange, the user/quota endpoint, the GitHub device flow (device.go) and
// the Copilot API (chat completions, the Responses API (responses.go) and
// the Anthropic Messages API (messages.go), each with SSE streaming;
// models; embeddings) on one loopback server, with controls for token
// lifetime, latency, stream shape and faults, and a record of every request
// it received. It also provides a manually driven Clock.
//
// Tests use it through copilot/copilottest, which adds New(tb); the
// gateway's demo command and the benchmarks use it directly. It imports
// neither testing nor net/http/httptest, so the gateway binary that runs
// the demo does not link them, and nothing of the project, so every
// package's tests can use it.
//
// Tool calls: when a request declares tools and its last item is a user
// message whose text contains ToolTrigger, the model answers with a call
// to one of them (see ToolTrigger). Tool results at the end of the input
// are answered with ToolResultReply.
package copilotfake

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The Copilot API paths the fake serves.
const (
	PathChat       = "/chat/completions"
	PathResponses  = "/responses"
	PathMessages   = "/v1/messages"
	PathModels     = "/models"
	PathEmbeddings = "/embeddings"
)

// Defaults of the fake's settings.
const (
	DefaultExpiresIn = 30 * time.Minute
	DefaultRefreshIn = 25 * time.Minute
	DefaultChunks    = 3
)

// maxRecordedBody caps how much of a request body is kept; the fake only
// ever receives small JSON bodies, the cap just keeps a runaway test bounded.
const maxRecordedBody = 32 << 20

// Option configures a Server at construction.
type Option func(*config)

type config struct {
	expiresIn    time.Duration
	refreshIn    time.Duration
	endpointsAPI string // "" means the server's own URL
	githubToken  string
	noRecording  bool
	tls          bool // see WithTLS
	maxStreams   int
	modelsJSON   string // "" means DefaultModelsJSON
	answer       string // "" means DefaultChatContent (see WithAnswer)
}

// WithTokenLifetime sets the lifetime of issued Copilot tokens (expires_at =
// now + expiresIn) and the refresh_in field (whole seconds; refreshIn < 0
// omits the field). Default 30m / 25m.
func WithTokenLifetime(expiresIn, refreshIn time.Duration) Option {
	return func(c *config) { c.expiresIn, c.refreshIn = expiresIn, refreshIn }
}

// WithEndpointsAPI sets what the token response's endpoints.api says.
// Default: the server's own URL.
func WithEndpointsAPI(url string) Option {
	return func(c *config) { c.endpointsAPI = url }
}

// WithGitHubToken sets the GitHub token the exchange and user endpoints
// accept. Default GitHubToken.
func WithGitHubToken(tok string) Option {
	return func(c *config) { c.githubToken = tok }
}

// WithModelsJSON sets the body of GET /models given at construction (Reset
// restores it; "" → DefaultModelsJSON). The list also decides which
// endpoints accept which model (see SetModelsJSON).
func WithModelsJSON(body string) Option {
	return func(c *config) { c.modelsJSON = body }
}

// WithoutRecording turns off the record of requests (Requests and
// RequestsTo then return nothing), so a long benchmark run does not grow
// the fake's memory or pay for copying every body and header.
func WithoutRecording() Option {
	return func(c *config) { c.noRecording = true }
}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Proto  string      // "HTTP/1.1" or "HTTP/2.0"
	Header http.Header // a clone
	Body   []byte
	Time   time.Time // wall time of arrival
}

// clone deep-copies r so callers cannot alter the record.
func (r Request) clone() Request {
	r.Header = r.Header.Clone()
	r.Body = slices.Clone(r.Body)
	return r
}

// CancelInfo reports a Copilot API request whose context was cancelled by
// the client before the fake finished writing its response.
type CancelInfo struct {
	Path string
	At   time.Time
}

// Fault makes a Copilot API route misbehave.
type Fault struct {
	Status      int           // HTTP status to answer with (0 = no status fault)
	Body        string        // body; "" → default per status (OpenAI-shaped JSON error)
	ContentType string        // default application/json
	RetryAfter  string        // Retry-After header value when set
	Hang        bool          // accept the request and never send headers until the client gives up
	DropAfter   int           // stream only: after this many events (>0), abort the connection
	StallAfter  int           // stream only: after this many events (>0), stay silent for StallFor, then continue
	StallFor    time.Duration // see StallAfter
	// FailAfter, stream only: after this many events (>0), send the API's
	// in-stream error event (chat: a data: {"error":...} line; /responses:
	// response.failed; /v1/messages: event: error) and end the stream
	// cleanly, without [DONE] or a completion event.
	FailAfter int
	Count     int // how many requests it applies to; <= 0: all until cleared
}

type exchangeFault struct {
	status int
	body   string
	count  int // <= 0: until cleared
}

// settings is everything Reset restores.
type settings struct {
	expiresIn            time.Duration
	refreshIn            time.Duration
	endpointsAPI         string
	githubToken          string
	exchangeFault        *exchangeFault
	exchangeLatency      time.Duration
	faults               map[string]*Fault   // by Copilot API path
	bodies               map[string]string   // non-stream body overrides, by path
	streams              map[string][]string // raw stream overrides, by path
	latency              time.Duration
	chunks               int
	spacing              time.Duration
	userJSON             string
	modelsJSON           string
	catalog              catalog // parsed from modelsJSON
	quota                map[string]string
	requireEditorVersion bool
	strictModels         bool
	verifyReasoning      bool
	cachedTokens         int
	reportCost           bool
	costHeader           int64
	answer               string // see WithAnswer
}

type tokenInfo struct {
	seq     int
	expires time.Time
}

// Server is the fake upstream. All methods are safe for concurrent use,
// including while requests are in flight.
type Server struct {
	ls      *loopbackServer
	initial config
	done    chan struct{} // closed by Close: unblocks hanging and sleeping handlers
	close   sync.Once

	canceled chan CancelInfo
	inFlight atomic.Int64
	seq      atomic.Int64 // ids for tokens and completions
	conns    atomic.Int64 // connections accepted
	// reportedNano totals the costs reported (copilot_usage and the cost
	// header), in nano-credits.
	reportedNano atomic.Int64

	mu            sync.Mutex
	set           settings
	requests      []Request
	exchangeTimes []time.Time
	issued        []string
	tokens        map[string]tokenInfo
	revokedUpTo   int             // tokens with seq <= revokedUpTo are revoked
	reasoning     map[string]bool // encrypted_content and signatures issued

	device deviceState // the GitHub device flow (device.go)

	caPEM []byte // the TLS certificate, with WithTLS
}

// NewServer starts the fake on a loopback port; the caller calls Close
// (copilottest.New closes it with the test).
func NewServer(opts ...Option) *Server {
	cfg := config{
		expiresIn:   DefaultExpiresIn,
		refreshIn:   DefaultRefreshIn,
		githubToken: GitHubToken,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		initial:   cfg,
		done:      make(chan struct{}),
		canceled:  make(chan CancelInfo, 1024),
		tokens:    make(map[string]tokenInfo),
		reasoning: make(map[string]bool),
	}
	s.set = s.defaultSettings()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /copilot_internal/v2/token", s.handleExchange)
	mux.HandleFunc("GET /copilot_internal/user", s.handleUser)
	mux.HandleFunc("POST "+PathChat, s.copilotAPI(s.handleChat))
	mux.HandleFunc("POST "+PathResponses, s.copilotAPI(s.handleResponses))
	mux.HandleFunc("POST "+PathMessages, s.copilotAPI(s.handleMessages))
	mux.HandleFunc("GET "+PathModels, s.copilotAPI(s.handleModels))
	mux.HandleFunc("POST "+PathEmbeddings, s.copilotAPI(s.handleEmbeddings))
	s.deviceRoutes(mux)
	var h http.Handler = mux
	if !cfg.noRecording {
		h = s.record(mux)
	}
	s.ls = newLoopbackServer(h, func() { s.conns.Add(1) })
	s.start()
	return s
}

func (s *Server) defaultSettings() settings {
	models := s.initial.modelsJSON
	if models == "" {
		models = DefaultModelsJSON
	}
	return settings{
		expiresIn:    s.initial.expiresIn,
		refreshIn:    s.initial.refreshIn,
		endpointsAPI: s.initial.endpointsAPI,
		githubToken:  s.initial.githubToken,
		faults:       map[string]*Fault{},
		bodies:       map[string]string{},
		streams:      map[string][]string{},
		chunks:       DefaultChunks,
		userJSON:     DefaultUserJSON,
		modelsJSON:   models,
		catalog:      parseCatalog(models),
		reportCost:   true,
		answer:       s.initial.answer,
		quota: map[string]string{
			"premium_interactions": DefaultPremiumQuotaHeader,
			"chat":                 DefaultChatQuotaHeader,
		},
	}
}

// Close stops the server. Hanging or streaming handlers are released first,
// so Close does not wait for a client to give up. Safe to call twice.
func (s *Server) Close() {
	s.close.Do(func() {
		close(s.done)
		s.ls.close()
	})
}

// URL is the base URL, e.g. http://127.0.0.1:PORT. It serves both the GitHub
// API routes and the Copilot API routes.
func (s *Server) URL() string { return s.ls.url }

// Connections is how many connections the server has accepted, for
// checking that a client reuses its connections.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Client returns an *http.Client configured for the server; its idle
// connections are closed by Close.
func (s *Server) Client() *http.Client { return s.ls.client }

// record keeps a copy of every request (all routes) before routing.
func (s *Server) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxRecordedBody))
		r.Body = io.NopCloser(bytes.NewReader(body))
		req := Request{
			Method: r.Method,
			Path:   r.URL.Path,
			Proto:  r.Proto,
			Header: r.Header.Clone(),
			Body:   body,
			Time:   time.Now(),
		}
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// ---- controls ----

// SetTokenLifetime changes the lifetime and refresh_in of tokens issued from
// now on (refreshIn < 0 omits refresh_in).
func (s *Server) SetTokenLifetime(expiresIn, refreshIn time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.expiresIn, s.set.refreshIn = expiresIn, refreshIn
}

// SetEndpointsAPI changes what endpoints.api says in later token responses
// ("" → the server's own URL).
func (s *Server) SetEndpointsAPI(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.endpointsAPI = url
}

// SetGitHubToken changes the GitHub token the exchange and user endpoints
// accept (simulates a rotated or revoked GitHub token).
func (s *Server) SetGitHubToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.githubToken = tok
}

// FailExchange makes the next count exchanges (count <= 0: all until
// cleared) answer with status and body. Body "" → a default for the status.
func (s *Server) FailExchange(status int, body string, count int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.exchangeFault = &exchangeFault{status: status, body: body, count: count}
}

// ClearExchangeFault removes an exchange fault.
func (s *Server) ClearExchangeFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.exchangeFault = nil
}

// SetExchangeLatency delays every exchange response by d (cancelled with the
// request).
func (s *Server) SetExchangeLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.exchangeLatency = d
}

// ExchangeCount is the number of exchange attempts received (including
// failed ones).
func (s *Server) ExchangeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.exchangeTimes)
}

// ExchangeTimes is the wall time of each exchange attempt.
func (s *Server) ExchangeTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.exchangeTimes)
}

// IssuedTokens is every Copilot token issued so far, oldest first.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

// RevokeTokens makes every token issued so far get 401 on the Copilot API
// (simulates early revocation); tokens issued later are fine.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokedUpTo = len(s.issued)
}

// SetFault sets a fault for the Copilot API route at path (one of the
// Path* constants), replacing any fault set for it before.
func (s *Server) SetFault(path string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.faults[path] = &f
}

// ClearFault removes the fault of path.
func (s *Server) ClearFault(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.set.faults, path)
}

// SetChatFault sets a fault for POST /chat/completions.
func (s *Server) SetChatFault(f Fault) { s.SetFault(PathChat, f) }

// ClearChatFault removes the chat fault.
func (s *Server) ClearChatFault() { s.ClearFault(PathChat) }

// SetResponsesFault sets a fault for POST /responses.
func (s *Server) SetResponsesFault(f Fault) { s.SetFault(PathResponses, f) }

// ClearResponsesFault removes the /responses fault.
func (s *Server) ClearResponsesFault() { s.ClearFault(PathResponses) }

// SetMessagesFault sets a fault for POST /v1/messages, e.g.
// Fault{Status: 503, Count: n} for the n upstream 503s that make a gateway
// fall back to the translated chat path. The default body is Copilot's
// OpenAI-shaped error, as on every route; give Body:
// AnthropicErrorBody(status) for Anthropic's shape.
func (s *Server) SetMessagesFault(f Fault) { s.SetFault(PathMessages, f) }

// ClearMessagesFault removes the /v1/messages fault.
func (s *Server) ClearMessagesFault() { s.ClearFault(PathMessages) }

// SetModelsFault sets a fault for GET /models.
func (s *Server) SetModelsFault(f Fault) { s.SetFault(PathModels, f) }

// ClearModelsFault removes the models fault.
func (s *Server) ClearModelsFault() { s.ClearFault(PathModels) }

// SetEmbeddingsFault sets a fault for POST /embeddings.
func (s *Server) SetEmbeddingsFault(f Fault) { s.SetFault(PathEmbeddings, f) }

// ClearEmbeddingsFault removes the embeddings fault.
func (s *Server) ClearEmbeddingsFault() { s.ClearFault(PathEmbeddings) }

// SetLatency delays response headers on the Copilot API routes by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.latency = d
}

// SetStream sets the number of generated content chunks and the delay
// between consecutive stream events, on every streaming route: chat
// content chunks, /responses output_text deltas and /v1/messages
// text_delta events; a tool call's arguments come in at most that many
// pieces (at least one).
func (s *Server) SetStream(chunks int, spacing time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.chunks, s.set.spacing = chunks, spacing
}

// SetStreamEvents replaces the generated chat stream with raw events. Each
// is written as "data: <e>\n\n", unless it already starts with "data:",
// "event:" or ":" (then as is + "\n\n"). The list is the whole stream:
// include "[DONE]" if it should be sent. nil → generated events.
func (s *Server) SetStreamEvents(events []string) { s.SetEndpointStream(PathChat, events) }

// SetEndpointStream is SetStreamEvents for the route at path (PathChat,
// PathResponses or PathMessages). For /responses and /v1/messages give
// each event whole, e.g. "event: message_stop\ndata: {...}".
func (s *Server) SetEndpointStream(path string, events []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if events == nil {
		delete(s.set.streams, path)
		return
	}
	s.set.streams[path] = slices.Clone(events)
}

// SetChatResponse overrides the non-stream chat body ("" → generated).
func (s *Server) SetChatResponse(body string) { s.SetEndpointResponse(PathChat, body) }

// SetEndpointResponse overrides the non-stream 200 body of the route at
// path (PathChat, PathResponses or PathMessages); "" → generated.
func (s *Server) SetEndpointResponse(path, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body == "" {
		delete(s.set.bodies, path)
		return
	}
	s.set.bodies[path] = body
}

// SetUserJSON overrides the body of GET /copilot_internal/user ("" → default).
func (s *Server) SetUserJSON(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body == "" {
		body = DefaultUserJSON
	}
	s.set.userJSON = body
}

// SetModelsJSON overrides the body of GET /models ("" → default). The list
// also decides which endpoints serve which model: a request for a listed
// model whose supported_endpoints (default ["/chat/completions"]) lacks
// the route answers 400 unsupported_api_for_model. Models not listed are
// served everywhere unless SetStrictModels is on; a body that does not
// parse turns the check off.
func (s *Server) SetModelsJSON(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body == "" {
		body = s.initial.modelsJSON
	}
	if body == "" {
		body = DefaultModelsJSON
	}
	s.set.modelsJSON, s.set.catalog = body, parseCatalog(body)
}

// SetQuotaHeader sets the x-quota-snapshot-<name> header sent on inference
// responses (name like "premium_interactions"); an empty value removes it.
func (s *Server) SetQuotaHeader(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == "" {
		delete(s.set.quota, name)
		return
	}
	s.set.quota[name] = value
}

// SetRequireEditorVersion makes the Copilot API answer 400 "missing
// Editor-Version header for IDE auth" when the header is absent, as Copilot
// does. Off by default.
func (s *Server) SetRequireEditorVersion(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.requireEditorVersion = on
}

// SetStrictModels makes chat, /responses and /v1/messages answer 400
// model_not_supported for a model the model list does not have, as
// Copilot does (so a test sees an id the gateway failed to map). Off by
// default: any model id is served.
func (s *Server) SetStrictModels(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.strictModels = on
}

// SetVerifyReasoning makes /responses refuse (400 invalid_encrypted_content)
// a reasoning input item whose encrypted_content, and /v1/messages refuse
// (400 invalid_request_error) a thinking block whose signature, this fake
// did not issue: a gateway must send them back unchanged. Off by default.
func (s *Server) SetVerifyReasoning(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.verifyReasoning = on
}

// SetCachedTokens makes generated usage report n cached prompt tokens on
// top of the DefaultPromptTokens uncached ones: chat prompt_tokens and
// /responses input_tokens grow by n and carry cached_tokens n;
// /v1/messages reports cache_read_input_tokens n (its input_tokens stay
// uncached). 0 (default) adds no chat prompt_tokens_details.
func (s *Server) SetCachedTokens(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.cachedTokens = max(0, n)
}

// Requests is every request received (all routes), in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r.clone()
	}
	return out
}

// RequestsTo is the requests received for path, in order.
func (s *Server) RequestsTo(path string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Path == path {
			out = append(out, r.clone())
		}
	}
	return out
}

// Canceled receives one value each time an in-flight Copilot API request's
// context was cancelled by the client before the fake finished writing
// (buffered; values beyond the buffer are dropped).
func (s *Server) Canceled() <-chan CancelInfo { return s.canceled }

// InFlight is the number of Copilot API requests currently being served. It
// drops when the handler returns, which may be just after the client has
// read the last byte: poll it.
func (s *Server) InFlight() int { return int(s.inFlight.Load()) }

// Reset clears faults and recorded requests (including exchange attempts
// and pending Canceled values) and restores the settings given at
// construction. Issued tokens and their revocation state are kept, and so
// are issued reasoning encrypted_content values and thinking signatures.
func (s *Server) Reset() {
	s.mu.Lock()
	s.set = s.defaultSettings()
	s.reportedNano.Store(0)
	s.requests = nil
	s.exchangeTimes = nil
	s.mu.Unlock()
	s.device.reset(DeviceFlowConfig{})
	for {
		select {
		case <-s.canceled:
		default:
			return
		}
	}
}

// ---- helpers shared by handlers ----

// outcome says how a Copilot API handler ended.
type outcome int

const (
	finished   outcome = iota // response fully written
	clientGone                // request context cancelled or a write failed
	serverStop                // Close was called
)

// wait sleeps for d unless the request is cancelled or the server closes.
func (s *Server) wait(ctx context.Context, d time.Duration) outcome {
	if d <= 0 {
		return finished
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return finished
	case <-ctx.Done():
		return clientGone
	case <-s.done:
		return serverStop
	}
}

// hang blocks until the request is cancelled or the server closes.
func (s *Server) hang(ctx context.Context) outcome {
	select {
	case <-ctx.Done():
		return clientGone
	case <-s.done:
		return serverStop
	}
}

// takeFault returns the current fault of path, consuming one use of it.
// Caller holds s.mu.
func (s *Server) takeFault(path string) Fault {
	f := s.set.faults[path]
	if f == nil {
		return Fault{}
	}
	out := *f
	if f.Count > 0 {
		f.Count--
		if f.Count == 0 {
			delete(s.set.faults, path)
		}
	}
	return out
}

func (s *Server) reportCancel(path string) {
	select {
	case s.canceled <- CancelInfo{Path: path, At: time.Now()}:
	default: // nobody is reading; never block a handler on it
	}
}
