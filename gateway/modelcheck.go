package gateway

import (
	"net/http"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// listedExamples is how many listed models a model_not_found message names.
const listedExamples = 5

// checkListed refuses a model Copilot does not list: 404 model_not_found
// (param model) naming a few models the caller may use. It reads the cached
// list only; before any list was fetched every model passes, and the
// upstream decides as before. An alias (Config.ModelAliases) counts as
// listed when the model it stands for is, and embeddings models are listed
// like the others. Called before the model is noted on the Entry, a refused
// request records no usage row, so random model names cannot grow the
// usage table. On failure it has answered.
func checkListed(w http.ResponseWriter, r *http.Request, models *modelCache, model string) bool {
	snap := models.cached()
	if snap == nil {
		return true
	}
	if _, ok := models.model(model); ok {
		return true
	}
	if _, ok := models.model(models.resolve(model)); ok {
		return true
	}
	msg := "The model '" + api.Clip(model, maxPathInMessage) + "' does not exist."
	if ids := listedIDs(r, snap, listedExamples); len(ids) > 0 {
		msg += " Models include: " + strings.Join(ids, ", ") + "; GET /v1/models lists them all."
	}
	middleware.WriteError(w, r, api.NewError(api.CodeModelNotFound, msg).WithParam("model"))
	return false
}

// listedIDs returns up to n ids of snap's models that the caller's key may
// use.
func listedIDs(r *http.Request, snap *modelSnapshot, n int) []string {
	var ids []string
	for _, m := range snap.models {
		if len(ids) == n {
			break
		}
		if modelAllowed(r, m.ID) {
			ids = append(ids, m.ID)
		}
	}
	return ids
}
