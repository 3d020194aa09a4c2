package gateway

import (
	"net/http"
)

// handleQuota serves GET /v1/usage/quota: the Copilot account's quota as
// the gateway last saw it (response headers and the account endpoint; the
// shape is copilot.QuotaReport). Any client key may read it: the whole team
// shares the one account.
func handleQuota(quota func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusOK, quota())
	}
}
