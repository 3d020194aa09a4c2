// Package copilottest is a fake GitHub + Copilot upstream for tests: the
// token exchange, the user/quota endpoint, the GitHub device flow
// (device.go) and the Copilot API (chat completions with SSE streaming,
// models, embeddings) on one loopback httptest server, with controls for
// token lifetime, latency, stream shape and faults, and a record of every
// request it received. It also provides a manually driven Clock.
//
// It imports nothing of the project so every package's tests can use it.
package copilottest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	Count       int           // how many requests it applies to; <= 0: all until cleared
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
	chatFault            *Fault
	modelsFault          *Fault
	embeddingsFault      *Fault
	latency              time.Duration
	chunks               int
	spacing              time.Duration
	streamEvents         []string
	chatResponse         string
	userJSON             string
	modelsJSON           string
	quota                map[string]string
	requireEditorVersion bool
}

type tokenInfo struct {
	seq     int
	expires time.Time
}

// Server is the fake upstream. All methods are safe for concurrent use,
// including while requests are in flight.
type Server struct {
	ts      *httptest.Server
	initial config
	done    chan struct{} // closed by Close: unblocks hanging and sleeping handlers
	close   sync.Once

	canceled chan CancelInfo
	inFlight atomic.Int64
	seq      atomic.Int64 // ids for tokens and completions
	conns    atomic.Int64 // connections accepted

	mu            sync.Mutex
	set           settings
	requests      []Request
	exchangeTimes []time.Time
	issued        []string
	tokens        map[string]tokenInfo
	revokedUpTo   int // tokens with seq <= revokedUpTo are revoked

	device deviceState // the GitHub device flow (device.go)
}

// New starts the fake on a loopback httptest server; it is closed with
// tb.Cleanup.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := NewServer(opts...)
	tb.Cleanup(s.Close)
	return s
}

// NewServer is New without testing.TB (for a benchmark binary); the caller
// calls Close.
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
		initial:  cfg,
		done:     make(chan struct{}),
		canceled: make(chan CancelInfo, 1024),
		tokens:   make(map[string]tokenInfo),
	}
	s.set = s.defaultSettings()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /copilot_internal/v2/token", s.handleExchange)
	mux.HandleFunc("GET /copilot_internal/user", s.handleUser)
	mux.HandleFunc("POST /chat/completions", s.copilotAPI(s.handleChat))
	mux.HandleFunc("GET /models", s.copilotAPI(s.handleModels))
	mux.HandleFunc("POST /embeddings", s.copilotAPI(s.handleEmbeddings))
	s.deviceRoutes(mux)
	var h http.Handler = mux
	if !cfg.noRecording {
		h = s.record(mux)
	}
	s.ts = httptest.NewUnstartedServer(h)
	s.ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.ts.Start()
	return s
}

func (s *Server) defaultSettings() settings {
	return settings{
		expiresIn:    s.initial.expiresIn,
		refreshIn:    s.initial.refreshIn,
		endpointsAPI: s.initial.endpointsAPI,
		githubToken:  s.initial.githubToken,
		chunks:       DefaultChunks,
		userJSON:     DefaultUserJSON,
		modelsJSON:   DefaultModelsJSON,
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
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// URL is the base URL, e.g. http://127.0.0.1:PORT. It serves both the GitHub
// API routes and the Copilot API routes.
func (s *Server) URL() string { return s.ts.URL }

// Connections is how many connections the server has accepted, for
// checking that a client reuses its connections.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Client returns an *http.Client configured for the server; its idle
// connections are closed by Close.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// record keeps a copy of every request (all routes) before routing.
func (s *Server) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxRecordedBody))
		r.Body = io.NopCloser(bytes.NewReader(body))
		req := Request{
			Method: r.Method,
			Path:   r.URL.Path,
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

// SetChatFault sets a fault for POST /chat/completions.
func (s *Server) SetChatFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.chatFault = &f
}

// ClearChatFault removes the chat fault.
func (s *Server) ClearChatFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.chatFault = nil
}

// SetModelsFault sets a fault for GET /models.
func (s *Server) SetModelsFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.modelsFault = &f
}

// ClearModelsFault removes the models fault.
func (s *Server) ClearModelsFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.modelsFault = nil
}

// SetEmbeddingsFault sets a fault for POST /embeddings.
func (s *Server) SetEmbeddingsFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.embeddingsFault = &f
}

// ClearEmbeddingsFault removes the embeddings fault.
func (s *Server) ClearEmbeddingsFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.embeddingsFault = nil
}

// SetLatency delays response headers on the Copilot API routes by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.latency = d
}

// SetStream sets the number of generated content chunks and the delay
// between consecutive stream events.
func (s *Server) SetStream(chunks int, spacing time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.chunks, s.set.spacing = chunks, spacing
}

// SetStreamEvents replaces the generated stream with raw events. Each is
// written as "data: <e>\n\n", unless it already starts with "data:" or ":"
// (then as is + "\n\n"). The list is the whole stream: include "[DONE]" if
// it should be sent. nil → generated events.
func (s *Server) SetStreamEvents(events []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.streamEvents = slices.Clone(events)
}

// SetChatResponse overrides the non-stream chat body ("" → generated).
func (s *Server) SetChatResponse(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.chatResponse = body
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

// SetModelsJSON overrides the body of GET /models ("" → default).
func (s *Server) SetModelsJSON(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body == "" {
		body = DefaultModelsJSON
	}
	s.set.modelsJSON = body
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
// construction. Issued tokens and their revocation state are kept.
func (s *Server) Reset() {
	s.mu.Lock()
	s.set = s.defaultSettings()
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

// takeFault returns the current fault of *slot, consuming one use of it.
// Caller holds s.mu.
func takeFault(slot **Fault) (Fault, bool) {
	f := *slot
	if f == nil {
		return Fault{}, false
	}
	out := *f
	if f.Count > 0 {
		f.Count--
		if f.Count == 0 {
			*slot = nil
		}
	}
	return out, true
}

func (s *Server) reportCancel(path string) {
	select {
	case s.canceled <- CancelInfo{Path: path, At: time.Now()}:
	default: // nobody is reading; never block a handler on it
	}
}
