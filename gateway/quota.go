package gateway

import (
	"net/http"

	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// handleQuota serves GET /v1/usage/quota: the Copilot account's quota as
// the gateway last saw it (response headers and the account endpoint; the
// shape is copilot.QuotaReport). Any client key may read it: the whole team
// shares the one account.
func handleQuota(quota func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		middleware.WriteJSON(w, r, http.StatusOK, quota())
	}
}
