package api_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
)

func TestParseEmbeddingsRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body     string
		wantCode api.Code // "" = valid
		base64   bool
	}{
		{`{"model":"m","input":"hello"}`, "", false},
		{`{"model":"m","input":["a","b"],"encoding_format":"base64"}`, "", true},
		{`{"model":"m","input":[[1,2,3]],"encoding_format":"float"}`, "", false},
		{`{"model":"m","input":"x","encoding_format":null}`, "", false},
		{``, api.CodeInvalidJSON, false},
		{`{"model":`, api.CodeInvalidJSON, false},
		{`"text"`, api.CodeInvalidRequest, false},
		{`{"input":"x"}`, api.CodeMissingField, false},
		{`{"model":"","input":"x"}`, api.CodeInvalidRequest, false},
		{`{"model":"m"}`, api.CodeMissingField, false},
		{`{"model":"m","input":null}`, api.CodeMissingField, false},
		{`{"model":"m","input":""}`, api.CodeInvalidRequest, false},
		{`{"model":"m","input":[ ]}`, api.CodeInvalidRequest, false},
		{`{"model":"m","input":{"a":1}}`, api.CodeInvalidRequest, false},
		{`{"model":"m","input":"x","encoding_format":5}`, api.CodeInvalidRequest, false},
	}
	for _, tt := range tests {
		req, e := api.ParseEmbeddingsRequest([]byte(tt.body))
		switch {
		case tt.wantCode == "" && e != nil:
			t.Errorf("%s: unexpected error %v", tt.body, e)
		case tt.wantCode != "" && (e == nil || e.Code != tt.wantCode || e.HTTPStatus() != 400):
			t.Errorf("%s: error %v, want %s", tt.body, e, tt.wantCode)
		case e == nil && req.WantsBase64() != tt.base64:
			t.Errorf("%s: WantsBase64 = %v", tt.body, req.WantsBase64())
		}
	}
}

func TestEncodeEmbeddingsBase64(t *testing.T) {
	t.Parallel()
	vecs := [][]float32{{0.1, -2.5, 3.25e-5, 0}, {float32(math.Pi)}}
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	in, _ := json.Marshal(map[string]any{
		"object": "list",
		"model":  "text-embedding-3-small",
		"usage":  map[string]int{"prompt_tokens": 2, "total_tokens": 2},
		"data":   []item{{"embedding", 0, vecs[0]}, {"embedding", 1, vecs[1]}},
		"extra":  true,
	})
	out, err := api.EncodeEmbeddingsBase64(in)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Object string `json:"object"`
		Model  string `json:"model"`
		Extra  bool   `json:"extra"`
		Usage  struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
		Data []struct {
			Object    string `json:"object"`
			Index     int    `json:"index"`
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Object != "list" || got.Model != "text-embedding-3-small" || !got.Extra || got.Usage.PromptTokens != 2 || len(got.Data) != 2 {
		t.Fatalf("fields lost: %s", out)
	}
	for i, d := range got.Data {
		if d.Object != "embedding" || d.Index != i {
			t.Errorf("data[%d] fields lost: %+v", i, d)
		}
		raw, err := base64.StdEncoding.DecodeString(d.Embedding)
		if err != nil || len(raw) != 4*len(vecs[i]) {
			t.Fatalf("data[%d].embedding = %q (%v)", i, d.Embedding, err)
		}
		for j, want := range vecs[i] {
			if f := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:])); f != want {
				t.Errorf("data[%d][%d] = %v, want %v", i, j, f, want)
			}
		}
	}

	// Already base64, or no data: unchanged.
	for _, body := range []string{`{"data":[{"embedding":"AAAAAA=="}]}`, `{"object":"list"}`, `{"data":null}`} {
		out, err := api.EncodeEmbeddingsBase64([]byte(body))
		if err != nil || string(out) != body {
			t.Errorf("%s -> %s, %v", body, out, err)
		}
	}
	for _, body := range []string{`<html>`, `{"data":"x"}`, `{"data":[{"embedding":["a"]}]}`} {
		if _, err := api.EncodeEmbeddingsBase64([]byte(body)); err == nil {
			t.Errorf("%s: no error", body)
		}
	}
}

// Field names are read exactly, as Copilot reads them: a case variant or a
// duplicate of a field the gateway checks is refused, so a key's model
// allow-list cannot be passed with one spelling and served with another.
func TestParseEmbeddingsRequestExactKeys(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"model":"forbidden","Model":"allowed","input":"x"}`,
		`{"MODEL":"allowed","input":"x"}`,
		`{"model":"forbidden","model":"allowed","input":"x"}`,
		`{"model":"m","input":"x","Encoding_Format":"base64"}`,
		`{"model":"m","input":"x","INPUT":["y"]}`,
	} {
		if _, e := api.ParseEmbeddingsRequest([]byte(body)); e == nil || e.HTTPStatus() != 400 {
			t.Errorf("%s: accepted (%v)", body, e)
		}
	}
	r, e := api.ParseEmbeddingsRequest([]byte(`{"model":"m","input":"x","user":"u","dimensions":8,"nested":{"Model":"ok inside"}}`))
	if e != nil || r.Model != "m" {
		t.Fatalf("a valid body was refused: %v", e)
	}
}
