package gateway

import (
	"net/http"

	"github.com/go-chi/chi/v5"

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
	r.Use(middleware.Entries, middleware.RequestID, middleware.AccessLog(d.Logger, d.Now))
	if d.Metrics != nil {
		r.Use(recordMetrics(d.Metrics, s.models, d.Now)) // after the access log, before Recover (counts the 500)
	}
	r.Use(middleware.Recover)
	r.NotFound(handleNotFound())
	r.MethodNotAllowed(handleMethodNotAllowed(r))

	bodies := bodyReader{max: cfg.MaxBody, timeout: cfg.BodyReadTimeout}
	out := newRelayer(cfg.Keepalive, d.Now, d.Metrics)
	limit := middleware.BodyLimit(cfg.MaxBody)

	// The OpenAI API: client key (unless single-user mode), then limits.
	// Inference routes also record usage per key.
	r.Group(func(r chi.Router) {
		if d.Keys != nil && !d.NoAuth {
			r.Use(middleware.Auth(keyAuthenticator{d.Keys}, d.AuthConfig))
		}
		if d.Limiter != nil {
			r.Use(d.Limiter.Middleware)
		}
		infer := r.With(accounting(d.Keys, d.Now), limit)
		chat := handleChat(up, bodies, out)
		infer.Post("/v1/chat/completions", chat)
		infer.Post("/chat/completions", chat)
		embeddings := handleEmbeddings(up, bodies, out)
		infer.Post("/v1/embeddings", embeddings)
		infer.Post("/embeddings", embeddings)
		r.Get("/v1/models", handleModels(s.models))
		r.Get("/models", handleModels(s.models))
		r.Get("/v1/models/*", handleModel(s.models))
		r.Get("/models/*", handleModel(s.models))
		if d.Quota != nil {
			r.Get("/v1/usage/quota", handleQuota(d.Quota))
		}
	})

	// The admin API exists only when an admin token is configured.
	if d.AdminToken != "" && d.Keys != nil {
		r.Route("/admin", func(r chi.Router) {
			r.Use(adminAuth(d.AdminToken))
			r.Get("/keys", handleAdminListKeys(d.Keys))
			r.Post("/keys", handleAdminCreateKey(d.Keys, d.Now))
			r.Post("/keys/{id}/revoke", handleAdminRevokeKey(d.Keys))
			r.Post("/keys/{id}/rotate", handleAdminRotateKey(d.Keys))
			r.Get("/usage", handleAdminUsage(d.Keys, d.Now))
		})
	}

	// Probes for orchestrators (see health.go for the response shapes).
	r.Get("/healthz", handleHealthz())
	r.Get("/readyz", handleReadyz(&readiness{ready: d.Ready, keys: d.Keys, draining: &s.draining, now: d.Now}))

	// The OpenAPI document and its page, no key needed (see openapi/).
	openapi.Mount(r)

	// Prometheus scrape (see metrics.go), behind the admin token when one is
	// set; off unless asked for.
	if d.ServeMetrics && d.Metrics != nil {
		if d.AdminToken != "" {
			r.With(adminAuth(d.AdminToken)).Method(http.MethodGet, "/metrics", d.Metrics.Handler())
		} else {
			r.Method(http.MethodGet, "/metrics", d.Metrics.Handler())
		}
	}
	return r
}
