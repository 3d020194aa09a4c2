package gateway

import (
	"context"
	"sync"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// codeUnsupportedAPI is Copilot's error code for a model asked at an
// endpoint that does not serve it.
const codeUnsupportedAPI = "unsupported_api_for_model"

// router picks the Copilot endpoint for a request: the client's own API
// when the model is served there (bytes passed through), else one the model
// is served at (translated). It reads supported_endpoints from the cached
// model list, and remembers what an unsupported_api_for_model answer taught
// about a model the list did not describe.
type router struct {
	models  *modelCache
	learned sync.Map // model id → endpoint
}

func newRouter(models *modelCache) *router { return &router{models: models} }

// endpoint returns where a request for model from a client speaking own
// goes: own when the model is served there, else the first of alts it is
// served at. A model the list does not name goes to own, and the upstream
// decides; so does any model when the list cannot be had.
func (rt *router) endpoint(ctx context.Context, model, own string, alts ...string) string {
	if e, ok := rt.learned.Load(model); ok {
		return e.(string)
	}
	m, ok := rt.models.model(ctx, model)
	if !ok || m.Supports(own) {
		return own
	}
	for _, a := range alts {
		if m.Supports(a) {
			return a
		}
	}
	return own
}

// learn remembers that model is served at endpoint (after the upstream
// refused it elsewhere with unsupported_api_for_model).
func (rt *router) learn(model, endpoint string) {
	rt.learned.Store(model, endpoint)
}

// model returns the listed model id, fetching the list when none is cached;
// ok is false when the model is not listed or no list can be had.
func (c *modelCache) model(ctx context.Context, id string) (api.Model, bool) {
	snap := c.cached()
	if snap == nil {
		var err error
		if snap, err = c.snapshot(ctx); err != nil {
			return api.Model{}, false
		}
	}
	i, ok := snap.byID[id]
	if !ok {
		return api.Model{}, false
	}
	return snap.models[i], true
}
