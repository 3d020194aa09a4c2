package openapi_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v4"
)

// TestServedDocuments: /openapi.json and /openapi.yaml describe the same
// document, without a key.
func TestServedDocuments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	yResp, yBody := send(t, e.ts, call{name: "yaml", method: "GET", path: "/openapi.yaml"})
	jResp, jBody := send(t, e.ts, call{name: "json", method: "GET", path: "/openapi.json"})
	if yResp.StatusCode != 200 || jResp.StatusCode != 200 {
		t.Fatalf("status yaml %d, json %d", yResp.StatusCode, jResp.StatusCode)
	}
	if ct := yResp.Header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("yaml Content-Type %q", ct)
	}
	if ct := jResp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("json Content-Type %q", ct)
	}
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(yBody, &fromYAML); err != nil {
		t.Fatal(err)
	}
	// Through JSON, so both sides have the same Go types.
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(jBody, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Fatal("/openapi.yaml and /openapi.json describe different documents")
	}
}

var srcHref = regexp.MustCompile(`(?i)\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?([^"'\s>]*)`)

// TestDocsPage: /docs renders every operation and schema, and references
// nothing outside its own origin.
func TestDocsPage(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	e := newEnv(t, 0)
	resp, body := send(t, e.ts, call{name: "docs", method: "GET", path: "/docs"})
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	page := string(body)
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !strings.Contains(page, strings.ToLower(method)+"</span> <code>"+path+"</code>") {
				t.Errorf("the page does not show %s %s", method, path)
			}
		}
	}
	for name := range doc.Components.Schemas {
		if !strings.Contains(page, `id="schema-`+name+`"`) {
			t.Errorf("the page does not show schema %s", name)
		}
	}
	if strings.Contains(strings.ToLower(page), "<script") || strings.Contains(page, "@import") || strings.Contains(page, "url(") {
		t.Error("the page has a script or loads CSS resources")
	}
	links := srcHref.FindAllStringSubmatch(page, -1)
	if len(links) < 10 {
		t.Fatalf("only %d links on the page", len(links))
	}
	for _, m := range links {
		u, err := url.Parse(m[1])
		if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(m[1], "//") {
			t.Errorf("the page references %q, not on its own origin", m[1])
		}
	}
}
