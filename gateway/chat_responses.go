package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// chatViaResponses answers a chat-completions request through Copilot's
// /responses, for a model served only there (the *-codex family): the
// request is translated (api/responses FromChat), and the answer or the
// stream back to chat completions.
func chatViaResponses(w http.ResponseWriter, r *http.Request, up *upstream, models *modelCache, out *relayer, body []byte, req api.ChatRequest) {
	// The decoder itself (not json.Unmarshal, which would check the whole
	// body's syntax once more before calling it): ParseChatRequest has
	// checked it already, and DecodeObject reports a syntax error first.
	var chat openai.ChatRequest
	if err := chat.UnmarshalJSON(body); err != nil {
		middleware.WriteError(w, r, api.NewError(api.CodeInvalidRequest, "The request cannot be translated for model '"+api.Clip(req.Model, maxPathInMessage)+"': "+api.Clip(err.Error(), 300)))
		return
	}
	rreq, err := responses.FromChat(&chat)
	if err != nil {
		middleware.WriteError(w, r, api.NewError(api.CodeInvalidRequest, "The request cannot be translated for model '"+api.Clip(req.Model, maxPathInMessage)+"': "+err.Error()))
		return
	}
	models.clampOutput(req.Model, rreq.MaxOutputTokens)
	rbody, err := json.Marshal(rreq)
	if err != nil {
		fail(w, r, api.NewError(api.CodeInternal, "could not encode the translated request"))
		return
	}
	resp, ok := up.send(w, r, call{
		method: http.MethodPost, path: api.EndpointResponses, body: rbody,
		stream: req.Stream, initiator: req.Initiator(), vision: req.HasImage,
	})
	if !ok {
		return
	}
	defer closeAnswer(resp)
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		writeUpstreamError(w, r, resp)
	case isEventStream(resp.Header):
		out.translate(w, r, resp, &responsesToChat{s: responses.NewStreamToChat(req.Model), includeUsage: req.IncludeUsage}, commentPing)
	default:
		var rr responses.Response
		if !readTranslated(w, r, resp, &rr) {
			return
		}
		if rr.Usage != nil {
			middleware.EntryFrom(r.Context()).SetUsage(rr.Usage.API())
		}
		middleware.WriteJSON(w, r, http.StatusOK, responses.ToChatResponse(&rr))
	}
}
