package gateway

import (
	"net/http"

	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// rootBody is the body of GET /: what this server is and where its
// documentation and APIs are, for a human or a client probing the base URL.
type rootBody struct {
	Name    string   `json:"name"`
	Docs    string   `json:"docs"`
	OpenAPI string   `json:"openapi"`
	APIs    []string `json:"apis"`
}

// root is the one rootBody GET / answers.
var root = rootBody{
	Name:    "copilot-proxy",
	Docs:    "/docs",
	OpenAPI: "/openapi.json",
	APIs:    []string{"/v1/chat/completions", "/v1/responses", "/v1/messages"},
}

// handleRoot answers GET / with root and HEAD / with the same headers and no
// body. It needs no key: Claude Code sends HEAD / before its first call.
func handleRoot() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w = headWriter{w}
		}
		middleware.WriteJSON(w, r, http.StatusOK, root)
	}
}

// headWriter drops the body of a response to HEAD, keeping its headers
// (Content-Length included).
type headWriter struct{ http.ResponseWriter }

func (headWriter) Write(p []byte) (int, error) { return len(p), nil }
