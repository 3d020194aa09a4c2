package copilotfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// unauthorizedBody is what Copilot answers (text/plain) to a bad, expired
// or revoked Copilot token.
const unauthorizedBody = "unauthorized: token expired"

// ---- GitHub API routes ----

type tokenResponse struct {
	Token             string            `json:"token"`
	ExpiresAt         int64             `json:"expires_at"`
	RefreshIn         *int64            `json:"refresh_in,omitempty"`
	Endpoints         map[string]string `json:"endpoints"`
	SKU               string            `json:"sku"`
	Individual        bool              `json:"individual"`
	ChatEnabled       bool              `json:"chat_enabled"`
	LimitedUserQuotas any               `json:"limited_user_quotas"`
}

func (s *Server) handleExchange(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.mu.Lock()
	s.exchangeTimes = append(s.exchangeTimes, now)
	var fault *exchangeFault
	if ef := s.set.exchangeFault; ef != nil {
		f := *ef
		fault = &f
		if ef.count > 0 {
			ef.count--
			if ef.count == 0 {
				s.set.exchangeFault = nil
			}
		}
	}
	latency := s.set.exchangeLatency
	ghToken := s.set.githubToken
	s.mu.Unlock()

	if s.wait(r.Context(), latency) != finished {
		return
	}
	if fault != nil {
		writeExchangeFault(w, fault.status, fault.body)
		return
	}
	if r.Header.Get("Authorization") != "token "+ghToken {
		writeExchangeFault(w, http.StatusUnauthorized, "")
		return
	}

	s.mu.Lock()
	n := len(s.issued) + 1
	expires := time.Now().Add(s.set.expiresIn)
	refreshIn := s.set.refreshIn
	api := s.set.endpointsAPI
	if api == "" {
		api = s.URL()
	}
	tok := fmt.Sprintf("tid=fake%d-%s;exp=%d;sku=%s;proxy-ep=proxy.business.githubcopilot.com:%s",
		n, randomHex(16), expires.Unix(), DefaultSKU, randomHex(32))
	s.issued = append(s.issued, tok)
	s.tokens[tok] = tokenInfo{seq: n, expires: expires}
	s.mu.Unlock()

	resp := tokenResponse{
		Token:       tok,
		ExpiresAt:   expires.Unix(),
		Endpoints:   map[string]string{"api": api},
		SKU:         DefaultSKU,
		ChatEnabled: true,
	}
	if refreshIn >= 0 {
		secs := int64(refreshIn / time.Second)
		resp.RefreshIn = &secs
	}
	body, _ := json.Marshal(resp)
	writeBody(w, http.StatusOK, "application/json", string(body))
}

// writeExchangeFault answers like GitHub does for status; body "" picks a
// realistic default.
func writeExchangeFault(w http.ResponseWriter, status int, body string) {
	ct := "application/json; charset=utf-8"
	if body == "" {
		switch {
		case status == http.StatusUnauthorized:
			body = `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`
		case status == http.StatusForbidden:
			body = `{"message":"Resource not accessible by integration","error_details":{"message":"Your account has been flagged. Contact support to restore access.","title":"Copilot access restricted","url":"https://github.com/contact","notification_id":"fake-notification-1"},"documentation_url":"https://docs.github.com/rest"}`
		case status == http.StatusNotFound:
			body = `{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}`
		case status >= 500:
			body = "<html><body>Service unavailable</body></html>"
			ct = "text/html; charset=utf-8"
		default:
			body = fmt.Sprintf(`{"message":%q}`, http.StatusText(status))
		}
	} else {
		ct = sniffContentType(body)
	}
	writeBody(w, status, ct, body)
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ghToken, body := s.set.githubToken, s.set.userJSON
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "token "+ghToken {
		writeExchangeFault(w, http.StatusUnauthorized, "")
		return
	}
	writeBody(w, http.StatusOK, "application/json; charset=utf-8", body)
}

// ---- Copilot API routes ----

type apiHandler func(w http.ResponseWriter, r *http.Request) outcome

// copilotAPI wraps a Copilot API handler with the in-flight count, latency,
// Copilot-token auth and cancellation reporting.
func (s *Server) copilotAPI(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.inFlight.Add(1)
		defer s.inFlight.Add(-1)

		s.mu.Lock()
		latency, needEditor := s.set.latency, s.set.requireEditorVersion
		s.mu.Unlock()

		o := s.wait(r.Context(), latency)
		if o == finished {
			switch {
			case !s.validCopilotToken(r.Header.Get("Authorization")):
				writeBody(w, http.StatusUnauthorized, "text/plain; charset=utf-8", unauthorizedBody)
			case needEditor && r.Header.Get("Editor-Version") == "":
				writeBody(w, http.StatusBadRequest, "text/plain; charset=utf-8", "missing Editor-Version header for IDE auth")
			default:
				o = h(w, r)
			}
		}
		if o == clientGone {
			s.reportCancel(r.URL.Path)
		}
	}
}

func (s *Server) validCopilotToken(auth string) bool {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.tokens[tok]
	return ok && info.seq > s.revokedUpTo && time.Now().Before(info.expires)
}

// quotaHeaders sets the x-quota-snapshot-* headers of inference responses.
func (s *Server) quotaHeaders(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, v := range s.set.quota {
		w.Header().Set("x-quota-snapshot-"+name, v)
	}
}

// applyFault handles the Hang and Status parts of a fault. It reports
// whether the response is done (and how).
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault) (outcome, bool) {
	if f.Hang {
		return s.hang(r.Context()), true
	}
	if f.Status == 0 {
		return finished, false
	}
	ct, body := f.ContentType, f.Body
	if ct == "" {
		ct = "application/json"
	}
	if body == "" {
		body = defaultAPIError(f.Status)
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	return writeBody(w, f.Status, ct, body), true
}

// defaultAPIError is an OpenAI-shaped error body for status.
func defaultAPIError(status int) string {
	msg, typ, code := http.StatusText(status), "invalid_request_error", ""
	switch {
	case status == http.StatusTooManyRequests:
		msg, typ, code = "Sorry, you have been rate-limited. Please wait a moment before trying again.", "rate_limit_error", "rate_limited"
	case status == http.StatusUnauthorized:
		msg, typ, code = "unauthorized: token expired", "authentication_error", "unauthorized"
	case status == http.StatusNotFound:
		msg, code = "The requested model is not supported.", "model_not_supported"
	case status >= 500:
		msg, typ, code = "fake upstream failure: "+http.StatusText(status), "server_error", "server_error"
	default:
		code = strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
	}
	b, _ := json.Marshal(map[string]map[string]string{"error": {"message": msg, "type": typ, "code": code}})
	return string(b)
}

// writeStream writes events one at a time, flushing each, honouring the
// spacing and the stream parts of f; failEvent(i) is the API's in-stream
// error event, sent in place of event i for f.FailAfter.
func (s *Server) writeStream(w http.ResponseWriter, r *http.Request, events []string, spacing time.Duration, f Fault, failEvent func(i int) string) outcome {
	ctx := r.Context()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return s.writeFailed()
	}
	for i, ev := range events {
		if i > 0 {
			if o := s.wait(ctx, spacing); o != finished {
				return o
			}
		}
		if f.StallAfter > 0 && i == f.StallAfter {
			if o := s.wait(ctx, f.StallFor); o != finished {
				return o
			}
		}
		if f.DropAfter > 0 && i == f.DropAfter {
			return abortConnection(rc)
		}
		last := f.FailAfter > 0 && i == f.FailAfter
		if last {
			ev = failEvent(i)
		}
		if o := s.writeFrame(w, rc, ev); o != finished || last {
			return o
		}
	}
	return finished
}

// writeFrame writes and flushes one event: "data: " is prepended unless it
// already starts with "data:", "event:" or ":".
func (s *Server) writeFrame(w io.Writer, rc *http.ResponseController, ev string) outcome {
	frame := ev + "\n\n"
	if !strings.HasPrefix(ev, "data:") && !strings.HasPrefix(ev, "event:") && !strings.HasPrefix(ev, ":") {
		frame = "data: " + frame
	}
	if _, err := io.WriteString(w, frame); err != nil {
		return s.writeFailed()
	}
	if err := rc.Flush(); err != nil {
		return s.writeFailed()
	}
	return finished
}

// abortConnection cuts the connection mid-response so the client sees an
// unexpected EOF (no terminating chunk).
func abortConnection(rc *http.ResponseController) outcome {
	conn, _, err := rc.Hijack()
	if err != nil {
		// Not hijackable (e.g. HTTP/2): net/http aborts the stream on this panic.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
	return serverStop // a deliberate drop, not a client cancellation
}

// writeFailed classifies a failed write: the client went away unless the
// server is closing.
func (s *Server) writeFailed() outcome {
	select {
	case <-s.done:
		return serverStop
	default:
		return clientGone
	}
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) outcome {
	s.mu.Lock()
	f := s.takeFault(PathModels)
	body := s.set.modelsJSON
	s.mu.Unlock()
	if o, done := s.applyFault(w, r, f); done {
		return o
	}
	return writeBody(w, http.StatusOK, "application/json", body)
}

type embeddingData struct {
	Object    string    `json:"object"`
	Index     int       `json:"index"`
	Embedding []float64 `json:"embedding"`
}

type embeddingResponse struct {
	Object string          `json:"object"`
	Data   []embeddingData `json:"data"`
	Model  string          `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

// EmbeddingDims is the length of every embedding the fake returns.
const EmbeddingDims = 8

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) outcome {
	s.mu.Lock()
	f := s.takeFault(PathEmbeddings)
	s.mu.Unlock()
	s.quotaHeaders(w)
	if o, done := s.applyFault(w, r, f); done {
		return o
	}
	var req struct {
		Model string `json:"model"`
		Input any    `json:"input"`
	}
	bad := func() outcome {
		return writeBody(w, http.StatusBadRequest, "application/json",
			`{"error":{"message":"input must be a string or an array of strings","type":"invalid_request_error","code":"invalid_input"}}`)
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return bad()
	}
	// Token counts per input: words of a string, length of a token array.
	var counts []int
	switch in := req.Input.(type) {
	case string:
		counts = []int{max(1, len(strings.Fields(in)))}
	case []any:
		if len(in) > 0 && allNumbers(in) {
			counts = []int{len(in)} // one input given as token ids
			break
		}
		for _, e := range in {
			switch e := e.(type) {
			case string:
				counts = append(counts, max(1, len(strings.Fields(e))))
			case []any:
				counts = append(counts, max(1, len(e)))
			default:
				return bad()
			}
		}
	default:
		return bad()
	}
	resp := embeddingResponse{Object: "list", Model: req.Model, Data: []embeddingData{}}
	for i, n := range counts {
		vec := make([]float64, EmbeddingDims)
		for j := range vec {
			v := math.Round(float64(j+1)*100+float64(i)) / 1000
			if j%2 == 1 {
				v = -v
			}
			vec[j] = v
		}
		resp.Data = append(resp.Data, embeddingData{Object: "embedding", Index: i, Embedding: vec})
		resp.Usage.PromptTokens += n
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens
	body, _ := json.Marshal(resp)
	return writeBody(w, http.StatusOK, "application/json", string(body))
}

func allNumbers(xs []any) bool {
	for _, x := range xs {
		if _, ok := x.(float64); !ok {
			return false
		}
	}
	return true
}

// ---- small helpers ----

func writeBody(w http.ResponseWriter, status int, contentType, body string) outcome {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if _, err := io.WriteString(w, body); err != nil {
		return clientGone
	}
	return finished
}

func sniffContentType(body string) string {
	t := strings.TrimSpace(body)
	switch {
	case strings.HasPrefix(t, "<"):
		return "text/html; charset=utf-8"
	case json.Valid([]byte(t)):
		return "application/json; charset=utf-8"
	default:
		return "text/plain; charset=utf-8"
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
