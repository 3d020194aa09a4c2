package gateway

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/gateway/console"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// accountStatus is GET /admin/account: the readiness conditions (the
// Copilot token with its expiry, the key store, Redis, shutdown) and the
// Copilot account's quota as GET /v1/usage/quota shows it (null without
// one), for the console's account page.
type accountStatus struct {
	Ready      bool        `json:"ready"`
	Conditions []Condition `json:"conditions"`
	Quota      any         `json:"quota"`
}

// accountJSON returns the JSON of GET /admin/account, which the console's
// account page also renders: one source for both.
func accountJSON(rd *readiness, quota func() any) func(ctx context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		st := accountStatus{Ready: true, Conditions: rd.conditions(ctx)}
		for _, c := range st.Conditions {
			st.Ready = st.Ready && c.OK
		}
		if quota != nil {
			st.Quota = quota()
		}
		return json.Marshal(st)
	}
}

func handleAdminAccount(account func(ctx context.Context) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := account(r.Context())
		if err != nil {
			middleware.WriteError(w, r, api.NewError(api.CodeInternal, "could not encode the account status"))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeRawJSON(w, http.StatusOK, b)
	}
}

// newConsole builds the web console, or nil without a key store (it keeps
// the sessions) or in single-user mode without an admin token (nobody to
// sign in). Failed sign-ins count on the admin token's gate.
func newConsole(d Deps, account func(ctx context.Context) ([]byte, error), gate *middleware.FailureGate) *console.Console {
	if d.NoConsole || d.Keys == nil || (d.NoAuth && d.AdminToken == "") {
		return nil
	}
	return console.New(console.Config{
		Store: d.Keys, AdminToken: d.AdminToken, Account: account, QuotaReset: d.QuotaReset,
		Gate: gate, Lifetime: d.ConsoleSessionLifetime, Now: d.Now,
	})
}
