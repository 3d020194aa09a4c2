package gateway

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/copilot-proxy/copilot-proxy/middleware"
	"github.com/copilot-proxy/copilot-proxy/openapi"
)

// routes is the index of the API: every route and the middleware it runs
// through. Every request, matched or not, goes through request id, access
// log and recover; bodies are bounded on POST routes. Each OpenAI route is
// also served without the /v1 prefix, for clients configured with a base URL
// that lacks it.
//
// Model ids are matched with a catch-all (/models/*) rather than {id}: chi's
// {id} stops at '/', and a model id with a slash (or its %2F form) must still
// resolve.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, middleware.AccessLog(s.logger))
	if s.metrics != nil {
		r.Use(s.recordMetrics) // after the access log (its Entry), before Recover (counts the 500)
	}
	r.Use(middleware.Recover)
	r.NotFound(handleNotFound(s))
	r.MethodNotAllowed(handleMethodNotAllowed(s, r))

	limit := middleware.BodyLimit(s.cfg.MaxBody)

	// The OpenAI API: client key (unless single-user mode), then limits.
	// Inference routes also record usage per key.
	r.Group(func(r chi.Router) {
		if s.auth != nil {
			r.Use(middleware.Auth(s.auth, s.authCfg))
		}
		if s.limiter != nil {
			r.Use(s.limiter.Middleware)
		}
		infer := r.With(s.accounting, limit)
		infer.Post("/v1/chat/completions", handleChat(s))
		infer.Post("/chat/completions", handleChat(s))
		infer.Post("/v1/embeddings", handleEmbeddings(s))
		infer.Post("/embeddings", handleEmbeddings(s))
		r.Get("/v1/models", handleModels(s))
		r.Get("/models", handleModels(s))
		r.Get("/v1/models/*", handleModel(s))
		r.Get("/models/*", handleModel(s))
		if s.quota != nil {
			r.Get("/v1/usage/quota", handleQuota(s))
		}
	})

	// The admin API exists only when an admin token is configured.
	if s.adminToken != "" && s.keys != nil {
		r.Route("/admin", func(r chi.Router) {
			r.Use(s.adminAuth)
			r.Get("/keys", handleAdminListKeys(s))
			r.Post("/keys", handleAdminCreateKey(s))
			r.Post("/keys/{id}/revoke", handleAdminRevokeKey(s))
			r.Post("/keys/{id}/rotate", handleAdminRotateKey(s))
			r.Get("/usage", handleAdminUsage(s))
		})
	}

	// Probes for orchestrators (see health.go for the response shapes).
	r.Get("/healthz", handleHealthz())
	r.Get("/readyz", handleReadyz(s))

	// The OpenAPI document and its page, no key needed (see openapi/).
	openapi.Mount(r)

	// Prometheus scrape (see metrics.go), behind the admin token when one is
	// set; off unless asked for.
	if s.serveMetrics {
		if s.adminToken != "" {
			r.With(s.adminAuth).Method(http.MethodGet, "/metrics", handleMetrics(s))
		} else {
			r.Method(http.MethodGet, "/metrics", handleMetrics(s))
		}
	}
	return r
}
