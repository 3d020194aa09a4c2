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
func handleEmbeddings(s *Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, e := s.readJSONBody(w, r)
		if e != nil {
			s.writeError(w, r, e)
			return
		}
		req, e := api.ParseEmbeddingsRequest(body)
		if e != nil {
			s.writeError(w, r, e)
			return
		}
		ctx := r.Context()
		entry := middleware.EntryFrom(ctx)
		entry.SetModel(req.Model)
		entry.SetStream(false)
		if !s.checkModel(w, r, req.Model) {
			return
		}

		resp, ok := s.send(w, r, &Call{
			Method:    http.MethodPost,
			Path:      "/embeddings",
			Body:      body,
			RequestID: middleware.RequestIDFrom(ctx),
		})
		if !ok {
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			s.writeUpstreamError(w, r, resp)
			return
		}
		if !req.WantsBase64() || resp.Header.Get("Content-Encoding") != "" {
			s.copyResponse(w, r, resp)
			return
		}
		s.writeBase64Embeddings(w, r, resp)
	}
}

// writeBase64Embeddings reads the whole (bounded) answer, re-encodes it and
// sends it. An answer that cannot be rewritten is sent as it came.
func (s *Server) writeBase64Embeddings(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxEmbeddingsResponse+1))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(raw) > maxEmbeddingsResponse {
		s.writeError(w, r, api.NewError(api.CodeUpstreamError, "Copilot returned an embeddings response over "+strconv.Itoa(maxEmbeddingsResponse>>20)+" MiB"))
		return
	}
	if u, ok := api.ChunkUsage(raw); ok {
		middleware.EntryFrom(r.Context()).SetUsage(int(u.PromptTokens), int(u.CompletionTokens))
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
