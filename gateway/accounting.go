package gateway

import (
	"context"
	"net/http"
	"time"

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
	p := middleware.Principal{
		KeyID: k.ID, KeyName: k.Name,
		RPM: k.RPM, TPM: k.TPM, Concurrency: k.Concurrency,
		Models: k.Models,
	}
	if k.Budget != nil {
		p.Budget, p.BudgetPeriod, p.HasBudget = int64(*k.Budget), k.BudgetPeriod, true
	}
	return p, true
}

// accounting prices each inference request and records one usage row per
// request of a key: the model, the tokens the handler saw in the upstream's
// usage, the cost (see price) and whether it failed. It runs deferred, so a
// request whose client left mid-stream (or whose stream was aborted) is
// still counted. A stream is also counted when its headers go out, as an
// error without tokens, which its end settles: a crash while it runs leaves
// it counted. Requests refused before the handler (auth, limits) are not
// usage. Without a key store it only prices (for the metrics and budgets).
func accounting(store *keys.Store, models *modelCache, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if store == nil {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer middleware.AtEnd(r.Context(), pricing{middleware.EntryFrom(r.Context()), models})
				next.ServeHTTP(w, r)
			})
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a := startAccounting(w, r, store, models, now)
			defer a.returned()
			next.ServeHTTP(a.sw, a.r)
		})
	}
}

// accountingRun is the accounting of one request.
type accountingRun struct {
	store   *keys.Store
	models  *modelCache
	now     func() time.Time
	sw      middleware.StatusWriter
	r       *http.Request   // the request carrying the stream-start hook, until it returns
	ctx     context.Context // its context
	started time.Time       // when the stream's start was recorded; zero: not a stream
}

// startAccounting sets up the accounting of a request. It is kept out of
// the middleware's frame (noinline), which stays on the stack for a whole
// stream (see upstream.do).
//
//go:noinline
func startAccounting(w http.ResponseWriter, r *http.Request, store *keys.Store, models *modelCache, now func() time.Time) *accountingRun {
	a := &accountingRun{store: store, models: models, now: now, sw: middleware.Wrap(w)}
	a.ctx = context.WithValue(r.Context(), streamStartKey{}, a.streamStarted)
	a.r = r.WithContext(a.ctx)
	return a
}

// returned queues the request's accounting for its end (see
// middleware.AtEnd), letting go of the request: a detached stream would
// hold it for its whole life.
func (a *accountingRun) returned() {
	a.r = nil
	middleware.AtEnd(a.ctx, a)
}

// streamStarted records the start of the request's stream.
func (a *accountingRun) streamStarted() {
	if keyID, model, ok := usageOwner(a.ctx); ok {
		a.started = a.now()
		a.store.RecordStart(keys.UsageRecord{KeyID: keyID, Model: model, At: a.started})
	}
}

// End prices the request, which has ended, and records its usage.
func (a *accountingRun) End() {
	price(middleware.EntryFrom(a.ctx), a.models)
	record(a.store, a.ctx, a.sw, a.now(), a.started)
}

// pricing prices a request at its end, without a key store (see
// middleware.AtEnd).
type pricing struct {
	e      *middleware.Entry
	models *modelCache
}

// End prices the request.
func (p pricing) End() { price(p.e, p.models) }

// price records on e what the request cost (package credits): the cost
// Copilot reported, else its tokens at the model's prices in the cached
// model list, else the model's premium multiplier. Only a request Copilot
// answered with a success costs anything; a stream that broke after its
// 200 is charged what it used (see noteStream).
func price(e *middleware.Entry, models *modelCache) {
	if st := e.UpstreamStatus(); st < 200 || st > 299 {
		return
	}
	reported, ok := e.ReportedCost()
	nano, src := models.prices(e.Model()).Cost(e.Usage(), reported, ok)
	e.SetCost(nano, string(src))
}

// streamStartKey carries the accounting's stream-start hook, which the
// relay calls as a stream's headers go out (on the goroutine that owns the
// Entry then: the handler's, or the detached stream's).
type streamStartKey struct{}

// noteStreamStart runs the request's stream-start hook, if it has one.
func noteStreamStart(r *http.Request) {
	if f, ok := r.Context().Value(streamStartKey{}).(func()); ok {
		f()
	}
}

// record stores the usage row of a request that ended at at; started is
// when its start was recorded (a stream), zero if it was not.
func record(store *keys.Store, ctx context.Context, sw middleware.StatusWriter, at, started time.Time) {
	keyID, model, ok := usageOwner(ctx)
	if !ok {
		return
	}
	e := middleware.EntryFrom(ctx)
	usage := e.Usage()
	nano, _ := e.Cost()
	u := keys.UsageRecord{
		KeyID:            keyID,
		Model:            model,
		PromptTokens:     usage.PromptTokens,
		CompletionTokens: usage.CompletionTokens,
		Credits:          nano,
		Error:            failed(sw.Status(), e.ErrorCode()),
		At:               at,
	}
	if !started.IsZero() {
		// Settle the start's row, on its day.
		u.Started, u.At = true, started
	}
	store.Record(u)
}

// usageOwner returns the key and model a request's usage counts for; false
// without a key, or when the request was rejected before its body named a
// model.
func usageOwner(ctx context.Context) (keyID, model string, ok bool) {
	p, ok := middleware.PrincipalFrom(ctx)
	if !ok {
		return "", "", false
	}
	model = middleware.EntryFrom(ctx).Model()
	return p.KeyID, model, model != ""
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

// modelAllowed reports whether the caller's key may use model (any model
// without a key).
func modelAllowed(r *http.Request, model string) bool {
	p, ok := middleware.PrincipalFrom(r.Context())
	return !ok || p.AllowsModel(model)
}

// admitModel notes the request's model and stream flag on its Entry and
// answers 403 model_not_allowed when the key may not use the model.
func admitModel(w http.ResponseWriter, r *http.Request, model string, stream bool) bool {
	entry := middleware.EntryFrom(r.Context())
	entry.SetModel(model)
	entry.SetStream(stream)
	if modelAllowed(r, model) {
		return true
	}
	middleware.WriteError(w, r, api.NewError(api.CodeModelNotAllowed,
		"This API key is not allowed to use the model '"+api.Clip(model, maxPathInMessage)+"'. Ask the gateway's admin, or list the models this key may use with GET /v1/models.").WithParam("model"))
	return false
}
