package openapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/copilot-proxy/copilot-proxy/openapi/internal/yamljson"
)

// specFile reads openapi.yaml or openapi.json, the files the package embeds
// and serves as they are.
func specFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadSpec loads and validates the embedded document.
func loadSpec(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(specFile(t, "openapi.yaml"))
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// TestSpecValid is what `make openapi-check` runs: the document loads, is a
// valid OpenAPI 3.1 document, and openapi.json is openapi.yaml converted.
func TestSpecValid(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi = %q, want 3.1", doc.OpenAPI)
	}
	fromJSON, err := openapi3.NewLoader().LoadFromData(specFile(t, "openapi.json"))
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if err := fromJSON.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not valid: %v", err)
	}
	want, err := yamljson.Convert(specFile(t, "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, specFile(t, "openapi.json")) {
		t.Fatal("openapi.json is out of date with openapi.yaml: run `go generate ./openapi`")
	}
	// Every operation has an id, and every response names the request id.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s: no operationId", method, path)
			}
			for status, r := range op.Responses.Map() {
				if r.Value.Headers["X-Request-Id"] == nil {
					t.Errorf("%s %s %s: the response does not document X-Request-Id", method, path, status)
				}
			}
		}
	}
}

// TestErrorCodesComplete holds the ErrorCode enum to the codes the api
// package defines: adding a code to the gateway without documenting it (or
// documenting one that does not exist) fails.
func TestErrorCodesComplete(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	var documented []string
	for _, v := range doc.Components.Schemas["ErrorCode"].Value.Enum {
		documented = append(documented, v.(string))
	}
	defined := apiCodes(t)
	slices.Sort(documented)
	slices.Sort(defined)
	if !slices.Equal(documented, defined) {
		t.Errorf("ErrorCode enum in openapi.yaml:\n  %v\napi/errors.go defines:\n  %v", documented, defined)
	}
	if slices.Contains(documented, "client_closed_request") {
		t.Error("client_closed_request is log-only; it must not be documented as a response code")
	}
}

// apiCodes reads the values of the api.Code constants from api/errors.go.
func apiCodes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../api/errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					codes = append(codes, s)
				}
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("found only %d codes in api/errors.go: %v", len(codes), codes)
	}
	return codes
}

// TestConvert checks the YAML to JSON conversion on the cases the document
// uses: key order, scalars by tag, quoted strings that look like numbers.
func TestConvert(t *testing.T) {
	t.Parallel()
	out, err := yamljson.Convert([]byte("b: 1\na: [x, 2.5, true, null, '200', 'false']\nc: {d: 4XX}\ne: &x {f: g}\nh: *x\n"))
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, out); err != nil {
		t.Fatal(err)
	}
	want := `{"b":1,"a":["x",2.5,true,null,"200","false"],"c":{"d":"4XX"},"e":{"f":"g"},"h":{"f":"g"}}`
	if compact.String() != want {
		t.Errorf("got  %s\nwant %s", compact.String(), want)
	}
}
