package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// maxErrorBody bounds how much of an upstream error body is read: enough for
// any real error, and a misbehaving upstream cannot make us buffer more.
const maxErrorBody = 1 << 20

// statusClientClosed is logged when the client left before an answer could
// be sent (nginx's convention); the client never sees it.
const statusClientClosed = 499

// codeClientClosedRequest is the Entry's error code when the client left
// before the answer was complete (the gateway's own code, never sent).
const codeClientClosedRequest = "client_closed_request"

// allowedMethods is what a 405's Allow header is computed from.
var allowedMethods = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// fail answers err, an *api.Error or an error from the upstream client (see
// upstreamError), through the one error writer, middleware.WriteError. A
// client that already left gets no answer: the status only shows in the
// access log.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := errors.AsType[*api.Error](err); ok {
		middleware.WriteError(w, r, e)
		return
	}
	if clientGone(r) {
		middleware.EntryFrom(r.Context()).SetErrorCode(codeClientClosedRequest)
		middleware.LoggerFrom(r.Context()).Debug().Str("error", api.Redact(err.Error())).Msg("client left before the upstream answered")
		w.WriteHeader(statusClientClosed)
		return
	}
	middleware.WriteError(w, r, upstreamError(err))
}

// isTimeout reports an error that means "took too long".
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	t, ok := errors.AsType[interface {
		error
		Timeout() bool
	}](err)
	return ok && t.Timeout()
}

// shortReason drops the method and URL that *url.Error adds (the client's
// and a transport's, when both wrap) and bounds the text.
func shortReason(err error) string {
	for {
		ue, ok := err.(*url.Error)
		if !ok || ue.Err == nil {
			break
		}
		err = ue.Err
	}
	return api.Clip(api.Redact(err.Error()), 300)
}

// clientGone reports that the client's request was cancelled (it
// disconnected), as opposed to a deadline.
func clientGone(r *http.Request) bool {
	return errors.Is(r.Context().Err(), context.Canceled)
}

// writeUpstreamError answers an upstream non-2xx response: at most 1 MiB of
// its body is read and mapped by api.UpstreamError; a 429's Retry-After (and
// retry-after-ms) is passed on.
func writeUpstreamError(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	e, err := readUpstreamError(resp)
	if err != nil && clientGone(r) {
		fail(w, r, err)
		return
	}
	if e.HTTPStatus() == http.StatusTooManyRequests {
		copyHeaders(w.Header(), resp.Header, "Retry-After", "Retry-After-Ms")
	}
	middleware.WriteError(w, r, e)
}

// readUpstreamError reads at most maxErrorBody of an error answer and maps
// it (api.UpstreamError). A read error is returned with what was read
// mapped.
func readUpstreamError(resp *http.Response) (*api.Error, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return api.UpstreamError(resp.StatusCode, resp.Header, body), err
}

// copyHeaders copies the named headers from src to dst when present.
func copyHeaders(dst, src http.Header, names ...string) {
	for _, name := range names {
		if v := src.Values(name); len(v) > 0 {
			dst[http.CanonicalHeaderKey(name)] = append([]string(nil), v...)
		}
	}
}

// handleNotFound answers an unknown route. Only the path is echoed: the query
// string may hold secrets.
func handleNotFound() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		routeShape(r)
		middleware.WriteError(w, r, api.NewError(api.CodeNotFound, "Unknown route: "+r.Method+" "+api.Clip(r.URL.Path, maxPathInMessage)))
	}
}

// handleMethodNotAllowed answers a known path with a wrong method, with the
// Allow header chi's own 405 would send (a custom handler does not get chi's
// list, so it is recomputed from the routes). A method chi does not know on a
// path no route has is a 404.
func handleMethodNotAllowed(routes chi.Routes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		var allow []string
		for _, m := range allowedMethods {
			if routes.Match(chi.NewRouteContext(), m, path) {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			handleNotFound()(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		routeShape(r)
		middleware.WriteError(w, r, api.NewError(api.CodeMethodNotAllowed,
			"Method "+r.Method+" is not allowed on "+api.Clip(r.URL.Path, maxPathInMessage)+"; allowed: "+strings.Join(allow, ", ")))
	}
}

// routeShape gives a request no route matched the error shape of its path:
// Anthropic's under /v1/messages, where only Anthropic clients call.
func routeShape(r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1/messages") {
		middleware.EntryFrom(r.Context()).SetErrorShape(api.ShapeAnthropic)
	}
}

// maxPathInMessage bounds a path or model name echoed in an error message.
const maxPathInMessage = 200
