package gateway

import (
	"io"
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
	return middleware.Principal{
		KeyID: k.ID, KeyName: k.Name,
		RPM: k.RPM, TPM: k.TPM, Concurrency: k.Concurrency,
		Models: k.Models,
	}, true
}

// accounting records one usage row per inference request of a key: the
// model, the tokens the handler saw in the upstream's usage, and whether it
// failed. It runs deferred, so a request whose client left mid-stream (or
// whose stream was aborted) is still counted. A stream is also counted when
// its headers go out, as an error without tokens, which its end settles: a
// crash while it runs leaves it counted. Requests refused before the
// handler (auth, limits) are not usage. Without a key store it does nothing.
func accounting(store *keys.Store, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if store == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			aw := &accountingWriter{StatusWriter: middleware.Wrap(w), store: store, r: r, now: now}
			defer func() { record(store, r, aw, now(), aw.started) }()
			next.ServeHTTP(aw, r)
		})
	}
}

// record stores the usage row of a request that ended at at; started is
// when its start was recorded (a stream), zero if it was not.
func record(store *keys.Store, r *http.Request, sw middleware.StatusWriter, at, started time.Time) {
	keyID, model, ok := usageOwner(r)
	if !ok {
		return
	}
	e := middleware.EntryFrom(r.Context())
	prompt, completion := e.Usage()
	u := keys.UsageRecord{
		KeyID:            keyID,
		Model:            model,
		PromptTokens:     prompt,
		CompletionTokens: completion,
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
func usageOwner(r *http.Request) (keyID, model string, ok bool) {
	p, ok := middleware.PrincipalFrom(r.Context())
	if !ok {
		return "", "", false
	}
	model = middleware.EntryFrom(r.Context()).Model()
	return p.KeyID, model, model != ""
}

// accountingWriter records a stream's start when its headers go out (on
// the handler's goroutine, which owns the Entry). Everything else passes
// through to the shared StatusWriter.
type accountingWriter struct {
	middleware.StatusWriter
	store   *keys.Store
	r       *http.Request
	now     func() time.Time
	begun   bool
	started time.Time // when the stream's start was recorded; zero: not
}

// begin runs once, when the response starts with status code.
func (a *accountingWriter) begin(code int) {
	if a.begun {
		return
	}
	a.begun = true
	if code < 200 || code > 299 || !isEventStream(a.Header()) {
		return
	}
	keyID, model, ok := usageOwner(a.r)
	if !ok {
		return
	}
	a.started = a.now()
	a.store.RecordStart(keys.UsageRecord{KeyID: keyID, Model: model, At: a.started})
}

func (a *accountingWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		a.begin(code)
	}
	a.StatusWriter.WriteHeader(code)
}

func (a *accountingWriter) Write(p []byte) (int, error) {
	a.begin(http.StatusOK)
	return a.StatusWriter.Write(p)
}

// ReadFrom keeps the StatusWriter's sendfile path.
func (a *accountingWriter) ReadFrom(src io.Reader) (int64, error) {
	a.begin(http.StatusOK)
	if rf, ok := a.StatusWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{a.StatusWriter}, src)
}

func (a *accountingWriter) Flush() { _ = a.FlushError() }

// FlushError flushes the way http.ResponseController.Flush does; flushing
// commits the headers with an implicit 200.
func (a *accountingWriter) FlushError() error {
	a.begin(http.StatusOK)
	return http.NewResponseController(a.StatusWriter).Flush()
}

// Unwrap lets http.ResponseController reach the writers below.
func (a *accountingWriter) Unwrap() http.ResponseWriter { return a.StatusWriter }

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
