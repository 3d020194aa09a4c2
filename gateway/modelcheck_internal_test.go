package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// cacheWith returns a model cache holding ids as its fetched list (nil ids:
// never fetched), with aliases.
func cacheWith(t *testing.T, aliases map[string]string, ids ...string) *modelCache {
	t.Helper()
	c := &modelCache{aliases: aliases}
	if ids == nil {
		return c
	}
	data := []map[string]any{}
	for _, id := range ids {
		m := map[string]any{"id": id}
		if strings.HasPrefix(id, "text-embedding") {
			m["capabilities"] = map[string]any{"type": "embeddings"}
		}
		data = append(data, m)
	}
	body, _ := json.Marshal(map[string]any{"data": data})
	models, err := api.MapModels(body)
	if err != nil {
		t.Fatal(err)
	}
	models = withAliases(models, aliases)
	c.snap = &modelSnapshot{models: models, byID: map[string]int{}}
	for i, m := range models {
		c.snap.byID[m.ID] = i
	}
	return c
}

// TestCheckListed: listed models, aliases and embeddings models pass, and
// every model passes before a list was fetched; any other model is a 404
// model_not_found with param model naming listed models.
func TestCheckListed(t *testing.T) {
	t.Parallel()
	aliases := map[string]string{"fast": "gpt-4o-mini"}
	listed := cacheWith(t, aliases, "gpt-4o", "gpt-4o-mini", "text-embedding-3-small")
	for _, tt := range []struct {
		name  string
		cache *modelCache
		model string
		pass  bool
	}{
		{"listed", listed, "gpt-4o", true},
		{"embeddings", listed, "text-embedding-3-small", true},
		{"alias", listed, "fast", true},
		{"unlisted", listed, "random-8f3a", false},
		{"no list yet", cacheWith(t, nil), "random-8f3a", true},
		{"empty list", cacheWith(t, nil, []string{}...), "gpt-4o", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, got := runCheckListed(nil, tt.cache, tt.model)
			if got != tt.pass {
				t.Fatalf("checkListed(%q) = %v, want %v", tt.model, got, tt.pass)
			}
			if tt.pass {
				if rec.Body.Len() != 0 {
					t.Fatalf("a passing model got an answer: %s", rec.Body)
				}
				return
			}
			assertModelNotFound(t, rec, tt.model)
		})
	}
}

// runCheckListed calls checkListed inside the Entries middleware, as a
// principal p when p is set, and checks it noted no model on the Entry (so
// no usage row can follow).
func runCheckListed(p *middleware.Principal, c *modelCache, model string) (*httptest.ResponseRecorder, bool) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	if p != nil {
		r = r.WithContext(middleware.WithPrincipal(r.Context(), *p))
	}
	var ok bool
	middleware.Entries(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok = checkListed(w, r, c, model)
		if m := middleware.EntryFrom(r.Context()).Model(); m != "" {
			panic("checkListed noted the model " + m)
		}
	})).ServeHTTP(rec, r)
	return rec, ok
}

func assertModelNotFound(t *testing.T, rec *httptest.ResponseRecorder, model string) {
	t.Helper()
	var env struct {
		Error struct {
			Message string  `json:"message"`
			Code    string  `json:"code"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if rec.Code != http.StatusNotFound || env.Error.Code != string(api.CodeModelNotFound) ||
		env.Error.Param == nil || *env.Error.Param != "model" || !strings.Contains(env.Error.Message, model) {
		t.Fatalf("status %d body %s", rec.Code, rec.Body)
	}
}

// TestCheckListedNamesAllowedModels: the message names a few listed models,
// only ones the caller's key may use.
func TestCheckListedNamesAllowedModels(t *testing.T) {
	t.Parallel()
	c := cacheWith(t, nil, "m1", "m2", "m3", "m4", "m5", "m6", "m7", "secret")
	rec, ok := runCheckListed(nil, c, "nope")
	if ok {
		t.Fatal("an unlisted model passed")
	}
	msg := rec.Body.String()
	if !strings.Contains(msg, "m1, m2, m3, m4, m5") || strings.Contains(msg, "m6") {
		t.Fatalf("message %s", msg)
	}

	p := &middleware.Principal{KeyID: "k", Models: []string{"m7"}}
	if rec, ok = runCheckListed(p, c, "nope"); ok {
		t.Fatal("an unlisted model passed")
	}
	if msg := rec.Body.String(); !strings.Contains(msg, "m7") || strings.Contains(msg, "m1") || strings.Contains(msg, "secret") {
		t.Fatalf("message %s", msg)
	}
}
