package copilot

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultBaseURL is the Copilot API used when the token names no endpoint,
// and the address callers give requests for "the Copilot API, whatever the
// plan" (see Endpoint.Route).
const DefaultBaseURL = "https://api.githubcopilot.com"

// DefaultAllowedHost is the host pattern always allowed for endpoints.api.
const DefaultAllowedHost = "*.githubcopilot.com"

// Endpoint is the Copilot host policy: where API requests go, and which
// hosts may receive the Copilot token.
type Endpoint struct {
	// BaseURL is an explicitly configured Copilot API base URL: it overrides
	// the token's endpoints.api, and its scheme, host and port are allowed
	// whatever they are.
	BaseURL string
	// AllowedHosts are host patterns, besides "*.githubcopilot.com", that
	// may get the token (https on port 443 only): an exact host
	// ("copilot-api.example.ghe.com") or "*." and a domain (any subdomain of
	// it, not the domain itself).
	AllowedHosts []string
}

// EndpointFor is the policy for a GitHub API URL and an optional explicit
// Copilot API URL: GitHub Enterprise Cloud with data residency (API at
// api.DOMAIN) serves Copilot at copilot-api.DOMAIN, which is then allowed.
func EndpointFor(githubAPIURL, copilotAPIURL string) Endpoint {
	e := Endpoint{BaseURL: trimBase(copilotAPIURL)}
	u, err := url.Parse(githubAPIURL)
	if err != nil {
		return e
	}
	host := strings.ToLower(u.Hostname())
	domain, ok := strings.CutPrefix(host, "api.")
	if ok && domain != "github.com" && strings.Contains(domain, ".") {
		e.AllowedHosts = []string{"copilot-api." + domain}
	}
	return e
}

// HostNotAllowedError refuses to send a Copilot token to a URL: the token
// response's endpoints.api, or a request's own URL.
type HostNotAllowedError struct {
	Of     string // what named the URL: "endpoints.api", or "" for a request's own URL
	URL    string // the URL refused (never with user info: it is left out)
	Reason string // why it was refused
}

// Error names the URL and says how to allow it.
func (e *HostNotAllowedError) Error() string {
	of := ""
	if e.Of != "" {
		of = e.Of + " "
	}
	return fmt.Sprintf("refusing to send the Copilot token to %s%q: %s; set --copilot-api-url to choose the Copilot API explicitly", of, e.URL, e.Reason)
}

// APIBase returns the base URL for tok: the configured BaseURL if set; else
// tok.APIURL if the policy allows it (else a *HostNotAllowedError); else,
// when the token names none, DefaultBaseURL. No trailing slash.
func (e Endpoint) APIBase(tok *Token) (string, error) {
	if b := trimBase(e.BaseURL); b != "" {
		return b, nil
	}
	if tok == nil || tok.APIURL == "" {
		return DefaultBaseURL, nil
	}
	u, err := url.Parse(tok.APIURL)
	if err != nil || u.Host == "" {
		return "", &HostNotAllowedError{Of: "endpoints.api", URL: tok.APIURL, Reason: "it is not an absolute URL"}
	}
	// A bare "?" or "#" parses as an empty query or fragment, yet would
	// swallow the path appended to the base (see Route).
	if strings.ContainsAny(tok.APIURL, "?#") {
		return "", &HostNotAllowedError{Of: "endpoints.api", URL: redacted(u), Reason: "it has a query or a fragment"}
	}
	if err := e.check(u); err != nil {
		err.Of = "endpoints.api"
		return "", err
	}
	return trimBase(tok.APIURL), nil
}

// Route returns the URL a request addressed to u goes to with tok. A URL
// under DefaultBaseURL (or the configured BaseURL) is moved under the base
// of the token (see APIBase), keeping its path and query; any other URL must
// pass the policy: the configured BaseURL's scheme, host and port, or https
// on port 443 to an allowed host, and no user info. A refusal is an
// *UnavailableError with a *HostNotAllowedError cause.
func (e Endpoint) Route(u *url.URL, tok *Token) (*url.URL, error) {
	return e.router(tok).route(u)
}

// router is the Endpoint compiled for one token's endpoints.api, so that
// routing a request parses nothing; the Transport keeps the last one.
type router struct {
	e       Endpoint
	apiURL  string     // the token's endpoints.api it was built for
	base    *url.URL   // where requests for the Copilot API go
	err     error      // why there is no base (an *UnavailableError)
	logical []*url.URL // the addresses that mean "the Copilot API"
}

func (e Endpoint) router(tok *Token) *router {
	r := &router{e: e}
	if tok != nil {
		r.apiURL = tok.APIURL
	}
	base, err := e.APIBase(tok)
	if err == nil {
		r.base, err = url.Parse(base)
	}
	if err == nil {
		if herr := e.check(r.base); herr != nil {
			err = herr
		}
	}
	if err != nil {
		r.err = &UnavailableError{Cause: err}
		return r
	}
	for _, l := range []string{trimBase(e.BaseURL), DefaultBaseURL} {
		if lu, err := url.Parse(l); l != "" && err == nil {
			r.logical = append(r.logical, lu)
		}
	}
	return r
}

func (r *router) route(u *url.URL) (*url.URL, error) {
	if r.err != nil {
		return nil, r.err
	}
	for _, l := range r.logical {
		if strings.EqualFold(u.Scheme, l.Scheme) && strings.EqualFold(u.Host, l.Host) && u.User == nil &&
			(u.Path == l.Path || strings.HasPrefix(u.Path, l.Path+"/")) {
			out := *r.base // checked when the router was built
			out.Path = r.base.Path + u.Path[len(l.Path):]
			out.RawPath, out.RawQuery, out.Fragment = "", u.RawQuery, ""
			return &out, nil
		}
	}
	if err := r.e.check(u); err != nil {
		return nil, &UnavailableError{Cause: err}
	}
	return u, nil
}

// check applies the policy to an absolute URL.
func (e Endpoint) check(u *url.URL) *HostNotAllowedError {
	if u.User != nil {
		return &HostNotAllowedError{URL: redacted(u), Reason: "it has user info"}
	}
	if b := trimBase(e.BaseURL); b != "" {
		if cu, err := url.Parse(b); err == nil && sameOrigin(cu, u) {
			return nil
		}
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme != "https":
		return &HostNotAllowedError{URL: redacted(u), Reason: "it is not https"}
	case u.Port() != "" && u.Port() != "443":
		return &HostNotAllowedError{URL: redacted(u), Reason: "port " + u.Port() + " is not 443"}
	case !e.hostAllowed(host):
		return &HostNotAllowedError{URL: redacted(u),
			Reason: fmt.Sprintf("host %q is not in the allow-list (%s)", host, strings.Join(e.patterns(), ", "))}
	}
	return nil
}

func (e Endpoint) patterns() []string {
	p := []string{DefaultAllowedHost}
	for _, h := range e.AllowedHosts {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			p = append(p, h)
		}
	}
	return p
}

// hostAllowed matches host against the allow-list patterns.
func (e Endpoint) hostAllowed(host string) bool {
	if matchHost(DefaultAllowedHost, host) {
		return true
	}
	for _, p := range e.AllowedHosts {
		if matchHost(strings.ToLower(strings.TrimSpace(p)), host) {
			return true
		}
	}
	return false
}

// matchHost matches host against an exact host or a "*.domain" pattern
// (any subdomain, not the domain itself).
func matchHost(pattern, host string) bool {
	if pattern == "" {
		return false
	}
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		return len(host) > len(suffix)+1 && strings.HasSuffix(host, suffix) && host[len(host)-len(suffix)-1] == '.'
	}
	return host == pattern
}

// sameOrigin compares scheme, host and effective port.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) &&
		effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// redacted is the URL without user info, query or fragment, for messages.
func redacted(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.Fragment = nil, "", ""
	return c.String()
}
