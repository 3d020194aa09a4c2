package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"testing"
)

const embeddingsAnswer = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1.25,3e-3]},` +
	`{"object":"embedding","index":1,"embedding":[1,2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}`

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	up := &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(http.StatusOK, jsonHeader(), embeddingsAnswer), nil
	}}
	ts := start(t, up)

	t.Run("float passthrough", func(t *testing.T) {
		reqBody := `{"model":"text-embedding-3-small","input":["a","b"],"dimensions":3}`
		resp, body := post(t, ts, "/v1/embeddings", reqBody)
		if resp.StatusCode != 200 || string(body) != embeddingsAnswer {
			t.Errorf("got %d %s", resp.StatusCode, body)
		}
		calls := up.Calls()
		c := calls[len(calls)-1]
		if c.Method != http.MethodPost || c.Path != "/embeddings" || string(c.Body) != reqBody || c.RequestID != resp.Header.Get("X-Request-Id") {
			t.Errorf("call = %+v", c)
		}
	})

	t.Run("base64", func(t *testing.T) {
		resp, body := post(t, ts, "/embeddings", `{"model":"text-embedding-3-small","input":"a","encoding_format":"base64"}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var got struct {
			Object string `json:"object"`
			Model  string `json:"model"`
			Data   []struct {
				Index     int    `json:"index"`
				Embedding string `json:"embedding"`
			} `json:"data"`
			Usage struct {
				PromptTokens int `json:"prompt_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if got.Object != "list" || got.Model != "text-embedding-3-small" || got.Usage.PromptTokens != 4 || len(got.Data) != 2 {
			t.Fatalf("fields lost: %s", body)
		}
		want := [][]float32{{0.5, -1.25, 3e-3}, {1, 2}}
		for i, d := range got.Data {
			raw, err := base64.StdEncoding.DecodeString(d.Embedding)
			if err != nil || len(raw) != 4*len(want[i]) {
				t.Fatalf("data[%d] = %q", i, d.Embedding)
			}
			for j, w := range want[i] {
				if f := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:])); f != w {
					t.Errorf("data[%d][%d] = %v, want %v", i, j, f, w)
				}
			}
		}
		if resp.ContentLength != int64(len(body)) {
			t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
		}
	})

	t.Run("validation", func(t *testing.T) {
		for _, body := range []string{`{"input":"a"}`, `{"model":"m"}`, `{"model":"m","input":null}`, `{"model":"m","input":5}`, `[]`, `{`} {
			resp, b := post(t, ts, "/v1/embeddings", body)
			wantEnvelope(t, resp, b, 400, "")
		}
	})
}

func TestEmbeddingsUpstreamError(t *testing.T) {
	t.Parallel()
	ts := start(t, upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(400, jsonHeader(), `{"error":{"message":"input too long","code":"context_length_exceeded","param":"input"}}`), nil
	}))
	resp, body := post(t, ts, "/v1/embeddings", `{"model":"m","input":"a","encoding_format":"base64"}`)
	e := wantEnvelope(t, resp, body, 400, "context_length_exceeded")
	if e.Error.Message != "input too long" || e.Error.Param == nil || *e.Error.Param != "input" {
		t.Errorf("error = %+v", e.Error)
	}
}
