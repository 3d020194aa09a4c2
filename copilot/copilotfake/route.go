package copilotfake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// catalog is what the model list says about which endpoint serves which
// model.
type catalog struct {
	valid     bool                // the list parsed
	endpoints map[string][]string // model id → supported_endpoints
	prices    map[string]price    // model id → billing.pricing
}

// parseCatalog reads a GET /models body. A model without
// supported_endpoints is chat-only, as on Copilot.
func parseCatalog(body string) catalog {
	var list struct {
		Data []struct {
			ID                 string   `json:"id"`
			SupportedEndpoints []string `json:"supported_endpoints"`
		} `json:"data"`
	}
	if json.Unmarshal([]byte(body), &list) != nil {
		return catalog{}
	}
	c := catalog{valid: true, endpoints: make(map[string][]string, len(list.Data)), prices: prices(body)}
	for _, m := range list.Data {
		eps := m.SupportedEndpoints
		if len(eps) == 0 {
			eps = []string{PathChat}
		}
		c.endpoints[m.ID] = eps
	}
	return c
}

// routeState is a snapshot of the settings an inference route uses, taken
// once per request.
type routeState struct {
	fault   Fault
	chunks  int
	spacing time.Duration
	stream  []string // raw stream override; nil → generated
	body    string   // non-stream override; "" → generated
	catalog catalog
	strict  bool
	verify  bool
	cached  int
	// reportCost and costHeader: see SetReportCost and SetCostHeader.
	reportCost bool
	costHeader int64
	reported   *atomic.Int64 // the server's total of costs reported
	answer     string        // see WithAnswer
}

// snapshot takes the route's settings, consuming one use of its fault.
func (s *Server) snapshot(path string) routeState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return routeState{
		fault:      s.takeFault(path),
		chunks:     s.set.chunks,
		spacing:    s.set.spacing,
		stream:     s.set.streams[path],
		body:       s.set.bodies[path],
		catalog:    s.set.catalog,
		strict:     s.set.strictModels,
		verify:     s.set.verifyReasoning,
		cached:     s.set.cachedTokens,
		reportCost: s.set.reportCost,
		costHeader: s.set.costHeader,
		reported:   &s.reportedNano,
		answer:     s.set.answer,
	}
}

// apiError is the error envelope Copilot itself answers with.
type apiError struct {
	Error struct {
		Message string `json:"message"`
		Code    string `json:"code"`
		Param   string `json:"param,omitempty"`
		Type    string `json:"type"`
	} `json:"error"`
}

func writeAPIError(w http.ResponseWriter, status int, code, param, msg string) outcome {
	var e apiError
	e.Error.Message, e.Error.Code, e.Error.Param, e.Error.Type = msg, code, param, "invalid_request_error"
	b, _ := json.Marshal(e)
	return writeBody(w, status, "application/json", string(b))
}

func writeBadBody(w http.ResponseWriter) outcome {
	return writeBody(w, http.StatusBadRequest, "application/json",
		`{"error":{"message":"invalid request body","type":"invalid_request_error","code":"invalid_request_body"}}`)
}

// checkModel answers like Copilot when model is not served on path: 400
// unsupported_api_for_model for a listed model whose supported_endpoints
// lack path, 400 model_not_supported for an unlisted one in strict mode.
// It reports whether it answered.
func checkModel(w http.ResponseWriter, path, model string, st routeState) (outcome, bool) {
	if !st.catalog.valid {
		return finished, false
	}
	eps, known := st.catalog.endpoints[model]
	switch {
	case !known && st.strict:
		return writeAPIError(w, http.StatusBadRequest, "model_not_supported", "model",
			"The requested model is not supported."), true
	case known && !slices.Contains(eps, path):
		return writeAPIError(w, http.StatusBadRequest, "unsupported_api_for_model", "",
			"model "+model+" is not accessible via the "+path+" endpoint"), true
	}
	return finished, false
}

// issueReasoning makes an opaque reasoning token (encrypted_content or a
// thinking signature) and remembers it for SetVerifyReasoning.
func (s *Server) issueReasoning(prefix string) string {
	v := prefix + randomHex(24)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reasoning[v] = true
	return v
}

// issuedReasoning reports whether v was made by issueReasoning.
func (s *Server) issuedReasoning(v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reasoning[v]
}

// nextID is a fresh id such as "resp_fake12".
func (s *Server) nextID(prefix string) string {
	return prefix + "fake" + strconv.FormatInt(s.seq.Add(1), 10)
}

// pairs builds a JSON object from alternating keys and values.
func pairs(kv ...any) obj {
	o := make(obj, len(kv)/2+2)
	for i := 0; i+1 < len(kv); i += 2 {
		o[kv[i].(string)] = kv[i+1]
	}
	return o
}

// answer writes an endpoint's answer: for a non-stream request the body set
// with SetEndpointResponse, else final(); for a stream the events set with
// SetEndpointStream, else stream(chunks), with the endpoint's spacing and
// fault (failEvent is its in-stream error event).
func (s *Server) answer(w http.ResponseWriter, r *http.Request, st routeState, isStream bool,
	final func() string, stream func(chunks int) []string, failEvent func(int) string) outcome {
	if !isStream {
		body := st.body
		if body == "" {
			body = final()
		}
		if st.costHeader > 0 {
			w.Header().Set(HeaderCost, strconv.FormatInt(st.costHeader, 10))
			st.reported.Add(st.costHeader)
		}
		return writeBody(w, http.StatusOK, "application/json", body)
	}
	events := st.stream
	if events == nil {
		events = stream(st.chunks)
	}
	return s.writeStream(w, r, events, st.spacing, st.fault, failEvent)
}
