// Package middleware holds the HTTP middleware of copilot-proxy: request id,
// access log, panic recovery, body limit and the response writer wrapper they
// share. Each middleware is a func(http.Handler) http.Handler or a constructor
// returning one; per-request values live in the context behind unexported
// keys and are read through the exported getters.
//
// The intended order, outermost first, is
//
//	Detacher -> Entries -> RequestID -> AccessLog -> Recover -> (auth, rate limit) -> BodyLimit -> handler
//
// the Detacher around the router (see Detach), the others installed with
// chi's Router.Use so the access log can read the matched route pattern.
// Work a middleware does at a request's end goes through AtEnd, so that it
// waits for a detached response.
package middleware
