package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/sync/singleflight"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

const (
	// maxModelsBody bounds the upstream model list (a few hundred KiB in
	// practice).
	maxModelsBody = 16 << 20
	// modelsFetchTimeout bounds one shared fetch, which runs detached from
	// the request that started it.
	modelsFetchTimeout = 60 * time.Second
	// modelsRetryDelay is how long a stale list is served after a failed
	// refresh before the upstream is asked again, so an outage does not
	// turn every request into a doomed upstream call.
	modelsRetryDelay = 15 * time.Second
)

// modelCache holds the mapped model list, fetched from the upstream on
// demand and kept for ttl. Shared fetches run under life, the server's
// lifetime, and end when it does.
type modelCache struct {
	up      *upstream
	ttl     time.Duration
	now     func() time.Time
	life    context.Context
	aliases map[string]string // alias → model id (Config.ModelAliases)

	mu      sync.Mutex
	snap    *modelSnapshot
	retryAt time.Time // while serving stale after a failure: no refresh before this
	group   singleflight.Group
}

func newModelCache(life context.Context, up *upstream, ttl time.Duration, now func() time.Time) *modelCache {
	return &modelCache{up: up, ttl: ttl, now: now, life: life}
}

// modelSnapshot is one fetched list, ready to serve. It is never modified.
type modelSnapshot struct {
	models  []api.Model
	ids     []string // the models' ids, in list order
	byID    map[string]int
	prices  []credits.Prices // the models' prices, in list order
	list    []byte           // the GET /v1/models body
	fetched time.Time
}

// list returns the model list in the OpenAI shape (every Copilot field kept
// in Model.Raw), from the cache while it is fresh. Concurrent misses share one
// upstream fetch; when a refresh fails and a list was fetched before, the
// stale list is returned. The error is an *api.Error or an error from the
// upstream client.
func (c *modelCache) list(ctx context.Context) ([]api.Model, error) {
	snap, err := c.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Clone(snap.models), nil
}

// cached returns the list as last fetched, nil before any fetch; it never
// fetches.
func (c *modelCache) cached() *modelSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap
}

func (c *modelCache) snapshot(ctx context.Context) (*modelSnapshot, error) {
	now := c.now()
	c.mu.Lock()
	snap := c.snap
	fresh := snap != nil && now.Sub(snap.fetched) < c.ttl
	holdStale := snap != nil && now.Before(c.retryAt)
	c.mu.Unlock()
	if fresh || holdStale {
		return snap, nil
	}

	// The fetch is shared, so it must not die with the request that happened
	// to start it; each caller still stops waiting when its own context ends.
	// It does end when the server is closed.
	fetchCtx := context.WithoutCancel(ctx)
	ch := c.group.DoChan("models", func() (any, error) {
		ctx, cancel := context.WithTimeout(fetchCtx, modelsFetchTimeout)
		defer cancel()
		defer context.AfterFunc(c.life, cancel)()
		snap, err := c.fetch(ctx)
		if err != nil {
			c.fetchFailed(ctx, err)
			return nil, err
		}
		return snap, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err == nil {
			return res.Val.(*modelSnapshot), nil
		}
		c.mu.Lock()
		stale := c.snap
		c.mu.Unlock()
		if stale == nil {
			return nil, res.Err
		}
		return stale, nil
	}
}

// fetchFailed notes a failed fetch (once, however many callers shared
// it): with a cached list, that list is served stale for modelsRetryDelay.
func (c *modelCache) fetchFailed(ctx context.Context, err error) {
	c.mu.Lock()
	stale := c.snap
	if stale != nil {
		c.retryAt = c.now().Add(modelsRetryDelay)
	}
	c.mu.Unlock()
	if stale == nil {
		return
	}
	middleware.LoggerFrom(ctx).Warn().
		Str("error", api.Redact(err.Error())).
		Time("fetched", stale.fetched).
		Msg("model list refresh failed; serving the cached list")
}

// fetch gets, maps and caches the upstream list.
func (c *modelCache) fetch(ctx context.Context) (*modelSnapshot, error) {
	resp, err := c.up.do(ctx, call{method: http.MethodGet, path: "/models"})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, modelsUpstreamError(resp.StatusCode, resp.Header, body)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxModelsBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxModelsBody {
		return nil, api.NewError(api.CodeUpstreamError, "Copilot returned a model list over "+strconv.Itoa(maxModelsBody>>20)+" MiB")
	}
	models, err := api.MapModels(body)
	if err != nil {
		return nil, api.NewError(api.CodeUpstreamError, "Copilot returned an unreadable model list: "+err.Error())
	}
	models = withAliases(models, c.aliases)
	snap := &modelSnapshot{
		models:  models,
		byID:    make(map[string]int, len(models)),
		fetched: c.now(),
	}
	for i, m := range models {
		snap.byID[m.ID] = i
		snap.ids = append(snap.ids, m.ID)
		snap.prices = append(snap.prices, credits.PricesOf(m))
	}
	list, err := jsonBody(api.NewModelList(models))
	if err != nil {
		return nil, err
	}
	snap.list = list
	c.mu.Lock()
	c.snap, c.retryAt = snap, time.Time{}
	c.mu.Unlock()
	return snap, nil
}

// prices returns a model's prices from the cached list (never fetching);
// zero Prices (cost unknown) when it is not listed or no list was fetched.
func (c *modelCache) prices(id string) credits.Prices {
	snap := c.cached()
	if snap == nil {
		return credits.Prices{}
	}
	if i, ok := snap.byID[id]; ok {
		return snap.prices[i]
	}
	return credits.Prices{}
}

// resolve returns the model id an alias stands for (id itself when it is
// none).
func (c *modelCache) resolve(id string) string {
	if to, ok := c.aliases[id]; ok {
		return to
	}
	return id
}

// withAliases adds an entry per alias whose model is listed: the model's
// entry under the alias's id, so clients can discover it.
func withAliases(models []api.Model, aliases map[string]string) []api.Model {
	if len(aliases) == 0 {
		return models
	}
	byID := make(map[string]api.Model, len(models))
	for _, m := range models {
		byID[m.ID] = m
	}
	names := make([]string, 0, len(aliases))
	for from := range aliases {
		names = append(names, from)
	}
	slices.Sort(names)
	for _, from := range names {
		target, ok := byID[aliases[from]]
		if _, taken := byID[from]; !ok || taken {
			continue // an alias of an unlisted model, or one shadowing a real model, is not listed
		}
		if raw, err := withID(target.Raw, from); err == nil {
			a := target
			a.ID, a.Raw = from, raw
			models = append(models, a)
		}
	}
	return models
}

// withID returns a model entry with its id replaced.
func withID(raw json.RawMessage, id string) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	fields["id"], _ = json.Marshal(id)
	return json.Marshal(fields)
}

// modelsUpstreamError maps a failed list fetch. The client's GET has no input
// the upstream could reject, so an upstream 4xx other than 429 is the
// gateway's failure: 502.
func modelsUpstreamError(status int, header http.Header, body []byte) *api.Error {
	e := api.UpstreamError(status, header, body)
	if s := e.HTTPStatus(); s == http.StatusTooManyRequests || s >= 500 {
		return e
	}
	return api.NewError(api.CodeUpstreamError, "Copilot returned "+strconv.Itoa(status)+" for the model list: "+e.Message).
		WithStatus(http.StatusBadGateway)
}

// handleModels serves GET /v1/models.
func handleModels(models *modelCache) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		snap, err := models.snapshot(r.Context())
		if err != nil {
			fail(w, r, err)
			return
		}
		writeModelList(w, r, snap)
	}
}

// writeModelList sends the model list, only the key's models when its key
// has an allow-list.
func writeModelList(w http.ResponseWriter, r *http.Request, snap *modelSnapshot) {
	p, ok := middleware.PrincipalFrom(r.Context())
	if !ok || len(p.Models) == 0 {
		writeRawJSON(w, http.StatusOK, snap.list)
		return
	}
	allowed := make([]api.Model, 0, len(p.Models))
	for _, m := range snap.models {
		if p.AllowsModel(m.ID) {
			allowed = append(allowed, m)
		}
	}
	body, err := jsonBody(api.NewModelList(allowed))
	if err != nil {
		fail(w, r, err)
		return
	}
	writeRawJSON(w, http.StatusOK, body)
}

// handleModel serves GET /v1/models/{id}; the id may contain slashes (raw or
// %2F-escaped). An empty id (/v1/models/) is the list.
func handleModel(models *modelCache) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "*")
		if unescaped, err := url.PathUnescape(id); err == nil {
			id = unescaped
		}
		snap, err := models.snapshot(r.Context())
		if err != nil {
			fail(w, r, err)
			return
		}
		if id == "" {
			writeModelList(w, r, snap)
			return
		}
		middleware.EntryFrom(r.Context()).SetModel(id)
		i, ok := snap.byID[id]
		if !ok || !modelAllowed(r, id) { // a model the key may not use is hidden
			middleware.WriteError(w, r, api.NewError(api.CodeModelNotFound, "The model '"+api.Clip(id, maxPathInMessage)+"' does not exist").WithParam("model"))
			return
		}
		writeRawJSON(w, http.StatusOK, snap.models[i].Raw)
	}
}

// jsonBody marshals v as a response body (with the trailing newline
// api.WriteJSON uses).
func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, errors.New("could not encode the model list")
	}
	return append(b, '\n'), nil
}

// writeRawJSON writes pre-encoded JSON.
func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	writeRawJSONType(w, status, "application/json", body)
}

// writeRawJSONType writes a pre-encoded body with its content type.
func writeRawJSONType(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
