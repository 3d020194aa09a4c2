package gateway

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/middleware"
	"github.com/copilot-proxy/copilot-proxy/openapi"
)

// routes is the index of the API: every route, the middleware it runs
// through and the dependencies its handler gets. Every request, matched or
// not, goes through entry, request id, access log and recover; bodies are
// bounded on POST routes. Each OpenAI route is also served without the /v1
// prefix, for clients configured with a base URL that lacks it.
//
// Model ids are matched with a catch-all (/models/*) rather than {id}: chi's
// {id} stops at '/', and a model id with a slash (or its %2F form) must still
// resolve.
func (s *Server) routes(d Deps, cfg Config, up *upstream) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Entries, middleware.RequestID, middleware.AccessLog(d.Logger, d.Now, d.ClientIP))
	if d.Metrics != nil {
		r.Use(recordMetrics(d.Metrics, s.models, d.Now)) // after the access log, before Recover (counts the 500)
	}
	r.Use(middleware.Recover)
	if d.LocalOnly {
		r.Use(localOnly(d.ListenAddr, d.ClientIP))
	}
	r.NotFound(handleNotFound())
	r.MethodNotAllowed(handleMethodNotAllowed(r))

	h := handlers{up: up, rt: newRouter(s.models), models: s.models,
		bodies: bodyReader{max: cfg.MaxBody, timeout: cfg.BodyReadTimeout},
		out:    newRelayer(cfg.Keepalive, cfg.StreamIdleTimeout, d.Now, d.Metrics), limit: middleware.BodyLimit(cfg.MaxBody)}

	// The OpenAI API, then the Anthropic Messages API: client key (unless
	// single-user mode), then limits; inference routes also record usage
	// per key. The Messages routes answer errors in the Anthropic shape
	// (ErrorShape comes before auth, so a bad key is an
	// authentication_error there).
	guard := keysAndLimits(d) // one instance: failed key attempts count once per address
	r.Group(func(r chi.Router) {
		r.Use(guard...)
		h.openAI(r, d)
	})
	r.Group(func(r chi.Router) {
		r.Use(middleware.ErrorShape(api.ShapeAnthropic))
		r.Use(guard...)
		r.With(inference(d, h.models, h.limit)...).Post("/v1/messages", handleMessages(h.up, h.rt, h.models, h.bodies, h.out))
		r.With(h.limit).Post("/v1/messages/count_tokens", handleCountTokens(h.bodies))
	})
	// One failure counter for the admin token on /admin, /metrics and the
	// console's sign-in, so failed attempts count once per address. The
	// admin API also takes the console's admin session cookie (with a CSRF
	// token on changes).
	gate := middleware.NewFailureGate(middleware.DefaultAuthFailLimit, middleware.DefaultAuthFailWindow, d.ClientIP)
	ready := &readiness{ready: d.Ready, keys: d.Keys, draining: &s.draining, now: d.Now}
	account := accountJSON(ready, d.Quota)
	con := newConsole(d, account, gate)
	var cookie func(*http.Request) (bool, *api.Error)
	if con != nil {
		cookie = con.AdminCookie
	}
	admin := adminAuth(d.AdminToken, gate, cookie)
	if d.AdminToken != "" && d.Keys != nil {
		r.Route("/admin", func(r chi.Router) { adminRoutes(r, d, admin, account) })
	}

	// The web console (see gateway/console): pages rendered from embedded
	// assets, their stylesheet and script, and the session API.
	if con != nil {
		r.Route("/console", func(r chi.Router) {
			r.Use(con.Enabled, con.Headers)
			r.Get("/", con.Home)
			r.Get("/login", con.Login)
			r.Get("/keys", con.KeysPage)
			r.Get("/usage", con.UsagePage)
			r.Get("/account", con.AccountPage)
			r.Get("/me", con.MePage)
			r.Get("/assets/{file}", con.Asset)
			r.Post("/signout", con.SignOutForm)
			r.Post("/api/session", con.SignIn)
			r.Get("/api/session", con.WhoAmI)
			r.Delete("/api/session", con.SignOut)
			r.Get("/api/me", con.Me)
		})
	}

	// Probes for orchestrators (see health.go for the response shapes), and
	// what this is for a client probing the base URL (see root.go).
	r.Get("/healthz", handleHealthz())
	r.Get("/readyz", handleReadyz(ready))
	r.Get("/", handleRoot())
	r.Head("/", handleRoot())

	// The OpenAPI document and its page, no key needed (see openapi/).
	openapi.Mount(r)

	// Prometheus scrape (see metrics.go), behind the admin token when one is
	// set; off unless asked for.
	if d.ServeMetrics && d.Metrics != nil {
		if d.AdminToken != "" {
			// A scrape has no browser: the bearer token only, not the
			// console's session cookie.
			r.With(adminAuth(d.AdminToken, gate, nil)).Method(http.MethodGet, "/metrics", d.Metrics.Handler())
		} else {
			r.Method(http.MethodGet, "/metrics", d.Metrics.Handler())
		}
	}
	return r
}

// handlers are the parts the API handlers are made from.
type handlers struct {
	up     *upstream
	rt     *router
	models *modelCache
	bodies bodyReader
	out    *relayer
	limit  func(http.Handler) http.Handler
}

// openAI mounts the OpenAI routes.
func (h handlers) openAI(r chi.Router, d Deps) {
	infer := r.With(inference(d, h.models, h.limit)...)
	chat := handleChat(h.up, h.rt, h.bodies, h.out)
	infer.Post("/v1/chat/completions", chat)
	infer.Post("/chat/completions", chat)
	resp := handleResponses(h.up, h.rt, h.bodies, h.out)
	infer.Post("/v1/responses", resp)
	infer.Post("/responses", resp)
	r.Get("/v1/responses/{id}", handleStoredResponse())
	r.Delete("/v1/responses/{id}", handleStoredResponse())
	embeddings := handleEmbeddings(h.up, h.models, h.bodies, h.out)
	infer.Post("/v1/embeddings", embeddings)
	infer.Post("/embeddings", embeddings)
	r.Get("/v1/models", handleModels(h.models))
	r.Get("/models", handleModels(h.models))
	r.Get("/v1/models/*", handleModel(h.models))
	r.Get("/models/*", handleModel(h.models))
	if d.Quota != nil {
		r.Get("/v1/usage/quota", handleQuota(d.Quota))
	}
}

// localOnly is middleware.LocalOnly for every route; its refusals on the
// Messages routes answer in the Anthropic shape, as those routes' other
// errors do.
func localOnly(listenAddr string, clientIP func(*http.Request) string) func(http.Handler) http.Handler {
	lo := middleware.LocalOnly([]string{listenAddr}, clientIP)
	anthropic := middleware.ErrorShape(api.ShapeAnthropic)
	return func(next http.Handler) http.Handler {
		plain, shaped := lo(next), anthropic(lo(next))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && (r.URL.Path == "/v1/messages" || r.URL.Path == "/v1/messages/count_tokens") {
				shaped.ServeHTTP(w, r)
				return
			}
			plain.ServeHTTP(w, r)
		})
	}
}

// keysAndLimits is client-key auth (unless single-user mode), then the
// limits.
func keysAndLimits(d Deps) []func(http.Handler) http.Handler {
	var mw []func(http.Handler) http.Handler
	if d.Keys != nil && !d.NoAuth {
		cfg := d.AuthConfig
		if cfg.ClientIP == nil {
			cfg.ClientIP = d.ClientIP
		}
		mw = append(mw, middleware.Auth(keyAuthenticator{d.Keys}, cfg))
	}
	if d.Limiter != nil {
		mw = append(mw, d.Limiter.Middleware)
	}
	return mw
}

// inference is the middleware of the routes that reach Copilot, inside
// the key and limits guard: the credit budgets (a key over budget may still
// list models), then pricing and usage accounting, then the body limit.
func inference(d Deps, models *modelCache, limit func(http.Handler) http.Handler) []func(http.Handler) http.Handler {
	var mw []func(http.Handler) http.Handler
	if d.Budgets != nil {
		mw = append(mw, d.Budgets.Middleware)
	}
	return append(mw, accounting(d.Keys, models, d.Now), limit)
}

// adminRoutes mounts the admin API (only with an admin token).
func adminRoutes(r chi.Router, d Deps, auth func(http.Handler) http.Handler, account func(context.Context) ([]byte, error)) {
	r.Use(auth)
	r.Get("/account", handleAdminAccount(account))
	r.Get("/keys", handleAdminListKeys(d.Keys, d.QuotaReset))
	r.Post("/keys", handleAdminCreateKey(d.Keys, d.Now))
	r.Post("/keys/{id}/revoke", handleAdminRevokeKey(d.Keys))
	r.Post("/keys/{id}/rotate", handleAdminRotateKey(d.Keys))
	r.Patch("/keys/{id}", handleAdminUpdateKey(d.Keys, d.Now))
	r.Get("/usage", handleAdminUsage(d.Keys, d.Now))
}
