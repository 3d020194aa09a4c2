// Package console is copilot-proxy's web console under /console/: the admin
// manages keys and sees spend, usage and the Copilot account at a glance; a
// key holder sees their own key's limits, spend and usage, and how to
// configure their tools.
//
// Pages are rendered on the server with html/template from the embedded
// assets (assets/), so their tables read without JavaScript; one small
// script (assets/console.js) adds live refresh, SVG charts and the forms
// that change keys. The script uses only the admin API (/admin/*, which
// accepts the admin session's cookie, see AdminCookie) and the session API
// (/console/api/*), both in the OpenAPI document. Nothing is fetched from
// another host.
//
// Sign-in exchanges the admin token or a client key for a session cookie
// (see session.go): the session lives in the key store, so signing out
// revokes it on every instance, and a key holder's session ends as soon as
// their key is revoked or expires.
package console

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// assetsFS holds the page templates, the stylesheet and the script.
//
//go:embed assets/*.html assets/*.css assets/*.js
var assetsFS embed.FS

// DefaultLifetime is how long a console session lasts unless configured.
const DefaultLifetime = 12 * time.Hour

// Config are the console's dependencies.
type Config struct {
	// Store holds the keys, their usage and the sessions. Required.
	Store *keys.Store
	// AdminToken signs in as the admin; "" leaves only key holders.
	AdminToken string
	// Account returns the JSON of GET /admin/account (readiness and the
	// Copilot quota), which the account page shows; nil shows nothing.
	Account func(ctx context.Context) ([]byte, error)
	// QuotaReset is the account's next quota reset (monthly budget
	// periods follow it); nil: calendar months.
	QuotaReset func() time.Time
	// Gate counts failed sign-ins per address: past its limit they get 429.
	// It is the admin token's gate, so guesses through the console and the
	// admin API count together. Nil leaves sign-ins unthrottled.
	Gate *middleware.FailureGate
	// Lifetime of a session; 0 means DefaultLifetime.
	Lifetime time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Console serves the console's pages, assets and session API. Its handler
// methods are mounted by the gateway's routes.go.
type Console struct {
	cfg Config
	// adminFP is keys.AdminFingerprint of cfg.AdminToken ("" without one):
	// admin sessions are live only while theirs matches it.
	adminFP string
	pages   map[string]*template.Template
	assets  map[string]asset
}

// asset is a static file with its content hash, which versions its URL.
type asset struct {
	body        []byte
	contentType string
	hash        string
}

// New builds the console. It panics if cfg.Store is nil or an embedded
// template does not parse (a build defect, caught by any test).
func New(cfg Config) *Console {
	if cfg.Store == nil {
		panic("console: Config.Store is nil")
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.QuotaReset == nil {
		cfg.QuotaReset = func() time.Time { return time.Time{} } // unknown: calendar months
	}
	if cfg.Gate == nil {
		cfg.Gate = middleware.NewFailureGate(-1, 0, nil)
	}
	c := &Console{cfg: cfg, assets: map[string]asset{}}
	if cfg.AdminToken != "" {
		c.adminFP = keys.AdminFingerprint(cfg.AdminToken)
	}
	for name, ct := range map[string]string{"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"} {
		b, err := fs.ReadFile(assetsFS, "assets/"+name)
		if err != nil {
			panic(err)
		}
		h := sha256.Sum256(b)
		c.assets[name] = asset{body: b, contentType: ct, hash: hex.EncodeToString(h[:6])}
	}
	c.pages = parsePages(c.assetURL)
	return c
}

// Enabled answers 404 for the whole console while it has nobody to serve:
// no admin token and no client key. The check reads the key cache only.
func (c *Console) Enabled(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.cfg.AdminToken == "" && !c.cfg.Store.HasKeys() {
			middleware.WriteError(w, r, api.NewError(api.CodeNotFound,
				"The web console is off: set an admin token or create a client key."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Headers sets the console's security headers on every answer: a strict
// Content-Security-Policy (no inline script or style, nothing from another
// host, no framing, forms only to this origin), no referrer, no sniffing.
// Data answers are not cached.
func (c *Console) Headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// assetURL is the versioned URL of a static file.
func (c *Console) assetURL(name string) string {
	return "/console/assets/" + name + "?v=" + c.assets[name].hash
}

// Asset serves a static file (GET /console/assets/{file}); its URL carries
// its content hash, so it may be cached for good.
func (c *Console) Asset(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assets[chi.URLParam(r, "file")]
	if !ok {
		middleware.WriteError(w, r, api.NewError(api.CodeNotFound, "no such console asset"))
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(a.body)
}
