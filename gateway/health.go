package gateway

import (
	"net/http"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// probeBody is the JSON of the health probes. It is deliberately not the
// OpenAI error envelope: probes are read by orchestrators and humans, not by
// SDKs. Shapes:
//
//	GET /healthz  200 {"status":"ok"}
//	GET /readyz   200 {"status":"ready"}
//	GET /readyz   503 {"status":"unavailable","reason":"..."}
type probeBody struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// handleHealthz reports that the process serves HTTP; it checks nothing else,
// so a Copilot outage does not get the process restarted.
func handleHealthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		api.WriteJSON(w, http.StatusOK, probeBody{Status: "ok"})
	}
}

// handleReadyz reports whether requests can be served: not while draining,
// and only while Deps.Ready says a valid Copilot token is held.
func handleReadyz(s *Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		reason := ""
		switch {
		case s.draining.Load():
			reason = "shutting down"
		case s.ready != nil:
			if err := s.ready(); err != nil {
				reason = api.Redact(err.Error())
				if reason == "" {
					reason = "not ready"
				}
			}
		}
		if reason != "" {
			api.WriteJSON(w, http.StatusServiceUnavailable, probeBody{Status: "unavailable", Reason: reason})
			return
		}
		api.WriteJSON(w, http.StatusOK, probeBody{Status: "ready"})
	}
}
