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

// writeError sends e in the OpenAI envelope and records its code for the
// access log; 5xx errors are also logged with their message, which says why.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *api.Error) {
	middleware.EntryFrom(r.Context()).SetErrorCode(string(e.Code))
	if e.HTTPStatus() >= 500 {
		middleware.LoggerFrom(r.Context()).Warn().
			Int("status", e.HTTPStatus()).
			Str("error_code", string(e.Code)).
			Str("error", e.Message).
			Msg("request failed")
	}
	api.WriteError(w, e)
}

// fail sends err, an *api.Error or an error from Upstream.Send, to the client
// with its honest status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := errors.AsType[*api.Error](err); ok {
		s.writeError(w, r, e)
		return
	}
	if clientGone(r) {
		// Nobody to answer; the status only shows in the access log.
		middleware.EntryFrom(r.Context()).SetErrorCode(codeClientClosedRequest)
		middleware.LoggerFrom(r.Context()).Debug().Str("error", api.Redact(err.Error())).Msg("client left before the upstream answered")
		w.WriteHeader(statusClientClosed)
		return
	}
	s.writeError(w, r, sendError(err))
}

// sendError classifies an error from Upstream.Send (see ErrCopilotUnavailable).
func sendError(err error) *api.Error {
	switch {
	case errors.Is(err, ErrCopilotUnavailable):
		return api.NewError(api.CodeCopilotUnavailable, "Copilot is unavailable: "+unavailableReason(err))
	case isTimeout(err):
		return api.NewError(api.CodeUpstreamTimeout, "Copilot did not answer within the upstream timeout")
	default:
		return api.NewError(api.CodeUpstreamError, "could not reach Copilot: "+shortReason(err))
	}
}

// unavailableReason is the reason text of an ErrCopilotUnavailable error,
// without the sentinel's own words.
func unavailableReason(err error) string {
	if u, ok := errors.AsType[*unavailableError](err); ok {
		return api.Redact(u.reason.Error())
	}
	msg := err.Error()
	sentinel := ErrCopilotUnavailable.Error()
	msg = strings.TrimPrefix(msg, sentinel+": ")
	msg = strings.TrimSuffix(msg, ": "+sentinel)
	if msg == sentinel || msg == "" {
		msg = "no valid Copilot token"
	}
	return api.Redact(msg)
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

// shortReason drops the method and URL a *url.Error adds and bounds the text.
func shortReason(err error) string {
	if ue, ok := errors.AsType[*url.Error](err); ok && ue.Err != nil {
		err = ue.Err
	}
	msg := api.Redact(err.Error())
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

// clientGone reports that the client's request was cancelled (it
// disconnected), as opposed to a deadline.
func clientGone(r *http.Request) bool {
	return errors.Is(r.Context().Err(), context.Canceled)
}

// writeUpstreamError answers an upstream non-2xx response: at most 1 MiB of
// its body is read and mapped by api.UpstreamError; a 429's Retry-After (and
// retry-after-ms) is passed on.
func (s *Server) writeUpstreamError(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil && clientGone(r) {
		s.fail(w, r, err)
		return
	}
	e := api.UpstreamError(resp.StatusCode, resp.Header, body)
	if e.HTTPStatus() == http.StatusTooManyRequests {
		copyHeaders(w.Header(), resp.Header, "Retry-After", "Retry-After-Ms")
	}
	s.writeError(w, r, e)
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
func handleNotFound(s *Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, api.NewError(api.CodeNotFound, "Unknown route: "+r.Method+" "+clipPath(r.URL.Path)))
	}
}

// handleMethodNotAllowed answers a known path with a wrong method, with the
// Allow header chi's own 405 would send (a custom handler does not get chi's
// list, so it is recomputed from the routes). A method chi does not know on a
// path no route has is a 404.
func handleMethodNotAllowed(s *Server, routes chi.Routes) http.HandlerFunc {
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
			handleNotFound(s)(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, api.NewError(api.CodeMethodNotAllowed,
			"Method "+r.Method+" is not allowed on "+clipPath(r.URL.Path)+"; allowed: "+strings.Join(allow, ", ")))
	}
}

func clipPath(p string) string {
	if len(p) > 200 {
		return p[:200] + "…"
	}
	return p
}
