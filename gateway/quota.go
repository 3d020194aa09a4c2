package gateway

import (
	"net/http"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// handleQuota serves GET /v1/usage/quota: the Copilot account's quota as
// the gateway last saw it (response headers and the account endpoint).
// Any client key may read it: the whole team shares the one account.
func handleQuota(s *Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, s.quota())
	}
}
