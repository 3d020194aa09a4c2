package gateway

import (
	"net/http"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// handleResponses serves POST /v1/responses: the body is passed to
// Copilot's /responses as bytes when the model is served there, and the
// events relayed one by one; for a model served only at /chat/completions
// the request is translated to chat and the answer (or stream) back
// (api/responses). An unlisted model that Copilot refuses at /responses
// with unsupported_api_for_model is retried once through chat, and the
// router remembers it.
func handleResponses(up *upstream, rt *router, bodies bodyReader, out *relayer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The passthrough reads only what it acts on (Codex sends tens of
		// KB a turn); the whole request is decoded only to translate it.
		body, peek, ok := readRequest(w, r, bodies, responses.PeekRequest)
		if ok {
			body, ok = admitRequest(w, r, rt.models, body, &peek.Model, peek.Stream, func() int64 {
				return middleware.OutputEstimate(peek.MaxOutputTokens)
			})
		}
		if !ok {
			return
		}
		if rt.endpoint(peek.Model, api.EndpointResponses, api.EndpointChat) != api.EndpointResponses {
			responsesTranslated(w, r, up, rt.models, out, body)
			return
		}
		resp, ok := up.send(w, r, call{
			method: http.MethodPost, path: api.EndpointResponses, body: body, stream: peek.Stream,
			initiator: peek.Initiator(), vision: peek.HasImage,
		})
		if !ok {
			return
		}
		defer closeAnswer(resp)
		e, refused, answered := unsupportedAPI(w, r, resp)
		switch {
		case answered:
			return
		case refused:
			rt.learn(peek.Model, api.EndpointChat)
			logFallback(r, peek.Model, api.EndpointResponses, api.EndpointChat, e)
			responsesTranslated(w, r, up, rt.models, out, body)
			return
		}
		out.answer(w, r, resp, &responsesDialect)
	}
}

// responsesTranslated decodes the whole request (admitted, its model id
// already the one to use) and answers it through chat completions; a body
// that cannot be decoded is the client's 400.
func responsesTranslated(w http.ResponseWriter, r *http.Request, up *upstream, models *modelCache, out *relayer, body []byte) {
	req, e := responses.ParseRequest(body)
	if e != nil {
		middleware.WriteError(w, r, e)
		return
	}
	responsesViaChat(w, r, up, models, out, req)
}

// responsesViaChat answers a Responses request through Copilot's chat
// completions.
func responsesViaChat(w http.ResponseWriter, r *http.Request, up *upstream, models *modelCache, out *relayer, req *responses.Request) {
	chatReq, notes, err := responses.ToChat(req)
	if err != nil {
		middleware.WriteError(w, r, api.NewError(api.CodeInvalidRequest, "The request cannot be translated to chat completions for model '"+api.Clip(req.Model, maxPathInMessage)+"': "+err.Error()))
		return
	}
	if !notes.Empty() {
		middleware.LoggerFrom(r.Context()).Info().Str("model", req.Model).
			Strs("dropped_tools", notes.DroppedTools).Strs("dropped_items", notes.DroppedItems).Strs("dropped_fields", notes.DroppedFields).
			Msg("responses request translated to chat completions; some parts were dropped")
	}
	models.clampOutput(req.Model, chatReq.MaxTokens)
	// MarshalJSON's bytes are already what json.Marshal would write; calling
	// it directly spares a compaction pass over the whole body.
	body, err := chatReq.MarshalJSON()
	if err != nil {
		fail(w, r, api.NewError(api.CodeInternal, "could not encode the translated request"))
		return
	}
	resp, ok := up.send(w, r, call{
		method: http.MethodPost, path: api.EndpointChat, body: body, stream: req.Stream,
		initiator: responsesInitiator(req), vision: responsesVision(req),
	})
	if !ok {
		return
	}
	defer closeAnswer(resp)
	id, created := newResponseID(), out.now().Unix()
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		writeUpstreamError(w, r, resp)
	case isEventStream(resp.Header):
		out.translate(w, r, resp, &chatToResponses{s: responses.NewStreamFromChat(req, id, created)}, commentPing)
	default:
		var chat openai.ChatResponse
		if !readTranslated(w, r, resp, &chat) {
			return
		}
		noteUsage(r, chat.Usage)
		middleware.WriteJSON(w, r, http.StatusOK, responses.FromChatResponse(&chat, req, id, created))
	}
}

// responsesInitiator is X-Initiator for a Responses request: "user" when
// its last input item is the user's message, else "agent" (a tool result
// or an assistant turn), as the editor plugins decide premium billing.
func responsesInitiator(req *responses.Request) string {
	items := req.Input.Items
	if req.Input.Text != nil || len(items) == 0 {
		return "user"
	}
	last := items[len(items)-1]
	if last.Type == responses.ItemMessage && last.Role == "user" {
		return "user"
	}
	return "agent"
}

// responsesVision reports an input image (Copilot-Vision-Request).
func responsesVision(req *responses.Request) bool {
	for _, it := range req.Input.Items {
		for _, p := range it.Content.Parts {
			if p.Type == responses.PartInputImage {
				return true
			}
		}
	}
	return false
}

// handleStoredResponse answers GET and DELETE /v1/responses/{id}: the
// gateway keeps no responses (Copilot is stateless for it, and store: true
// is passed through but nothing is stored here), so there is nothing to
// fetch or delete.
func handleStoredResponse() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		middleware.WriteError(w, r, api.NewError(api.CodeNotSupported,
			"copilot-proxy does not store responses: "+r.Method+" /v1/responses/{id} is not supported. "+
				"Send the conversation again (previous_response_id is passed to Copilot for models it serves at /responses)."))
	}
}
