package gateway

import (
	"net/http"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// keyAuthenticator adapts the key store to the auth middleware.
type keyAuthenticator struct{ store *keys.Store }

func (a keyAuthenticator) Authenticate(secret string) (middleware.Principal, bool) {
	k, ok := a.store.Authenticate(secret)
	if !ok {
		return middleware.Principal{}, false
	}
	return middleware.Principal{
		KeyID: k.ID, KeyName: k.Name,
		RPM: k.RPM, TPM: k.TPM, Concurrency: k.Concurrency,
		Models: k.Models,
	}, true
}

// accounting records one usage row per inference request of a key: the
// model, the tokens the handler saw in the upstream's usage, and whether it
// failed. It runs deferred, so a request whose client left mid-stream (or
// whose stream was aborted) is still counted. Requests refused before the
// handler (auth, limits) are not usage.
func (s *Server) accounting(next http.Handler) http.Handler {
	if s.keys == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := middleware.Wrap(w)
		defer s.record(r, sw)
		next.ServeHTTP(sw, r)
	})
}

func (s *Server) record(r *http.Request, sw middleware.StatusWriter) {
	p, ok := middleware.PrincipalFrom(r.Context())
	if !ok {
		return
	}
	e := middleware.EntryFrom(r.Context())
	if e.Model() == "" {
		return // rejected before the body named a model
	}
	prompt, completion := e.Usage()
	s.keys.Record(keys.UsageRecord{
		KeyID:            p.KeyID,
		Model:            e.Model(),
		PromptTokens:     prompt,
		CompletionTokens: completion,
		Error:            failed(sw.Status(), e.ErrorCode()),
		At:               s.now(),
	})
}

// failed says whether a request counts as an error in usage: an error
// status, or a stream that broke after its 200. A client that left is not
// the request's failure.
func failed(status int, code string) bool {
	switch code {
	case string(api.CodeUpstreamError), string(api.CodeUpstreamTimeout):
		return true
	case codeClientClosedRequest:
		return false
	}
	return status >= 400
}

// modelAllowed reports whether the caller's key may use model.
func modelAllowed(r *http.Request, model string) bool {
	p, ok := middleware.PrincipalFrom(r.Context())
	if !ok || len(p.Models) == 0 {
		return true
	}
	for _, m := range p.Models {
		if m == model {
			return true
		}
	}
	return false
}

// checkModel answers 403 model_not_allowed when the key may not use model.
func (s *Server) checkModel(w http.ResponseWriter, r *http.Request, model string) bool {
	if modelAllowed(r, model) {
		return true
	}
	s.writeError(w, r, api.NewError(api.CodeModelNotAllowed,
		"This API key is not allowed to use the model '"+clipPath(model)+"'. Ask the gateway's admin, or list the models this key may use with GET /v1/models.").WithParam("model"))
	return false
}
