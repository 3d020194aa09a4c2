// Package openapi holds the gateway's contract: openapi.yaml, the
// hand-written OpenAPI 3.1 document of every route, and serves it as
// GET /openapi.yaml, GET /openapi.json and a human-readable GET /docs page.
//
// openapi.json is generated from openapi.yaml (go generate ./openapi) and
// embedded next to it, so the gateway never parses YAML; a test fails when
// the two differ, and the contract tests (contract_test.go) hold the router
// and the handlers' real responses against the document.
//
// It imports the standard library only.
package openapi

//go:generate go run ./internal/genjson

import (
	_ "embed"
	"net/http"
	"strconv"
	"sync"
)

var (
	//go:embed openapi.yaml
	specYAML []byte
	//go:embed openapi.json
	specJSON []byte
)

// The paths this package serves.
const (
	pathYAML = "/openapi.yaml"
	pathJSON = "/openapi.json"
	pathDocs = "/docs"
)

// Router is the part of a router Mount needs (chi.Router has it).
type Router interface {
	Get(pattern string, h http.HandlerFunc)
}

// Mount registers GET /openapi.yaml, /openapi.json and /docs on r. They need
// no key. The page is rendered on the first GET /docs (a 500 if the embedded
// document could not be rendered, which the package's tests rule out).
func Mount(r Router) {
	r.Get(pathYAML, serveYAML)
	r.Get(pathJSON, serveJSON)
	r.Get(pathDocs, (&lazyDocs{}).serve)
}

// lazyDocs renders the page on the first GET /docs: parsing the document
// costs about half a MiB of garbage that a gateway nobody browses should not
// carry in its resident memory from the start. Afterwards a request only
// writes bytes.
type lazyDocs struct {
	once sync.Once
	html []byte
	err  error
}

// serve serves the HTML page. Its Content-Security-Policy allows no script
// and nothing from another origin: the page is self-contained.
func (l *lazyDocs) serve(w http.ResponseWriter, r *http.Request) {
	l.once.Do(func() { l.html, l.err = renderDocs(specJSON) })
	if l.err != nil {
		// The package's tests rule this out: a broken embedded document is
		// a bug, answered by the gateway's recovery (a 500 through its one
		// error writer).
		panic("openapi: the API document cannot be rendered: " + l.err.Error())
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	write(w, "text/html; charset=utf-8", l.html)
}

// serveYAML serves openapi.yaml.
func serveYAML(w http.ResponseWriter, r *http.Request) {
	write(w, "application/yaml", specYAML)
}

// serveJSON serves openapi.json.
func serveJSON(w http.ResponseWriter, r *http.Request) {
	write(w, "application/json", specJSON)
}

func write(w http.ResponseWriter, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
