package gateway

import (
	"net/http"
	"sync"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// codeUnsupportedAPI is Copilot's error code for a model asked at an
// endpoint that does not serve it.
const codeUnsupportedAPI = "unsupported_api_for_model"

// router picks the Copilot endpoint for a request: the client's own API
// when the model is served there (bytes passed through), else one the model
// is served at (translated). It reads supported_endpoints from the cached
// model list only, so no request waits for a list fetch (the cmd fetches it
// at start, and /v1/models refreshes it); a model it cannot place goes to
// the client's own endpoint, and an unsupported_api_for_model answer there
// is retried once translated and remembered.
type router struct {
	models  *modelCache
	learned sync.Map // model id → endpoint
}

func newRouter(models *modelCache) *router { return &router{models: models} }

// endpoint returns where a request for model from a client speaking own
// goes: own when the model is served there, else the first of alts it is
// served at. A model the list does not name goes to own, and the upstream
// decides; so does any model before a list was fetched.
func (rt *router) endpoint(model, own string, alts ...string) string {
	if e, ok := rt.learned.Load(model); ok {
		return e.(string)
	}
	m, ok := rt.models.model(model)
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

// model returns the model id from the cached list (it never fetches); ok
// is false when it is not listed or no list was fetched yet.
func (c *modelCache) model(id string) (api.Model, bool) {
	snap := c.cached()
	if snap == nil {
		return api.Model{}, false
	}
	i, ok := snap.byID[id]
	if !ok {
		return api.Model{}, false
	}
	return snap.models[i], true
}

// aliased applies a model alias (Config.ModelAliases) to a request: the id
// it stands for, and the body with that id. Without an alias both are
// returned as they are.
func (c *modelCache) aliased(body []byte, model string) ([]byte, string, error) {
	to := c.resolve(model)
	if to == model {
		return body, model, nil
	}
	b, err := setModel(body, to)
	return b, to, err
}

// admitRequest applies a model alias to a request, then notes its model
// and stream flag, checks the key may use the model and reserves the
// request's estimated tokens (middleware.ReserveTokens; output is the
// output estimate, nil for none): what every inference route does before
// routing. On failure it has answered.
func admitRequest(w http.ResponseWriter, r *http.Request, c *modelCache, body []byte, model *string, stream bool, output func() int64) ([]byte, bool) {
	b, to, err := c.aliased(body, *model)
	if err != nil {
		middleware.WriteError(w, r, api.NewError(api.CodeInvalidJSON, "The request body is not a JSON object."))
		return nil, false
	}
	*model = to
	// An unlisted model is refused before it is noted, so random names
	// cannot add usage rows (checkListed passes them when no list is known).
	ok := checkListed(w, r, c, to) && admitModel(w, r, to, stream) && reserve(w, r, c, to, len(b), output)
	return b, ok
}

// reserve reserves a request's estimated tokens in its key's tokens window
// (middleware.ReserveTokens) and its estimated cost in its budgets
// (middleware.ReserveCredits): the prompt estimated from the body's size,
// the output from output (nil: none), priced at model's prices. On failure
// it has answered.
func reserve(w http.ResponseWriter, r *http.Request, c *modelCache, model string, bodyLen int, output func() int64) bool {
	prompt := middleware.PromptEstimate(bodyLen)
	middleware.EntryFrom(r.Context()).SetPromptEstimate(prompt)
	if !middleware.ReserveTokens(w, r, bodyLen, output) {
		return false
	}
	var out int64
	if output != nil {
		out = max(output(), 0)
	}
	return middleware.ReserveCredits(w, r, c.prices(model).Estimate(prompt, out))
}

// clampOutput lowers a translated request's output limit to what the model
// can produce: Claude Code asks for 32,000–64,000 tokens, which a chat
// model with a smaller limit would refuse. Unknown limits are left alone.
func (c *modelCache) clampOutput(model string, limit *int64) {
	m, ok := c.model(model)
	if ok && limit != nil && m.MaxOutputTokens > 0 && *limit > m.MaxOutputTokens {
		*limit = m.MaxOutputTokens
	}
}
