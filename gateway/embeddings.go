package gateway

import (
	"io"
	"net/http"
	"strconv"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// maxEmbeddingsResponse bounds an embeddings answer the gateway must rewrite
// (base64); 2048 inputs of 3072 dimensions as JSON floats fit well within it.
const maxEmbeddingsResponse = 256 << 20

// handleEmbeddings serves POST /v1/embeddings: the body is validated and
// forwarded untouched. When the client asked for encoding_format "base64" and
// Copilot answers with float arrays, the answer is re-encoded as OpenAI does
// (little-endian float32, standard base64); otherwise it is copied through.
func handleEmbeddings(up *upstream, models *modelCache, bodies bodyReader, out *relayer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, req, ok := readRequest(w, r, bodies, api.ParseEmbeddingsRequest)
		if ok {
			body, ok = admitRequest(w, r, models, body, &req.Model, false, nil)
		}
		if !ok {
			return
		}
		resp, ok := up.send(w, r, call{method: http.MethodPost, path: "/embeddings", body: body})
		if !ok {
			return
		}
		defer closeAnswer(resp)
		if resp.StatusCode < 200 || resp.StatusCode > 299 || !req.WantsBase64() || resp.Header.Get("Content-Encoding") != "" {
			d := chatDialect(false)
			out.answer(w, r, resp, &d)
			return
		}
		writeBase64Embeddings(w, r, resp)
	}
}

// writeBase64Embeddings reads the whole (bounded) answer, re-encodes it and
// sends it. An answer that cannot be rewritten is sent as it came.
func writeBase64Embeddings(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxEmbeddingsResponse+1))
	if err != nil {
		fail(w, r, err)
		return
	}
	if len(raw) > maxEmbeddingsResponse {
		middleware.WriteError(w, r, api.NewError(api.CodeUpstreamError, "Copilot returned an embeddings response over "+strconv.Itoa(maxEmbeddingsResponse>>20)+" MiB"))
		return
	}
	if u, ok := api.ChunkUsage(raw); ok {
		middleware.EntryFrom(r.Context()).SetUsage(u)
	}
	out, err := api.EncodeEmbeddingsBase64(raw)
	if err != nil {
		middleware.LoggerFrom(r.Context()).Warn().Str("error", err.Error()).Msg("embeddings response not re-encoded as base64; sent as received")
		out = raw
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	writeRawJSONType(w, resp.StatusCode, ct, out)
}
