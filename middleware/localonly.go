package middleware

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// LocalOnly keeps a gateway without client keys (--no-auth) to the local
// user's own programs, out of reach of the web pages that user visits:
//
//   - the Host header must name this machine: localhost, a loopback
//     address (any port) or exactly one of allowedHosts (the configured
//     listen address). Anything else, such as a DNS-rebinding name that
//     resolves to 127.0.0.1, is a 403 forbidden;
//   - an Origin header, which browsers add to cross-site and script
//     requests, must be a loopback origin: a page from anywhere else
//     (or the opaque "null" origin) gets a 403 forbidden;
//   - with clientIP (set when proxies are trusted, see NewClientIP), the
//     client's address must be a loopback address: a request a trusted
//     proxy on this machine forwards for another machine is not local,
//     whatever its Host says (a proxy_pass to 127.0.0.1:8080 sends that
//     as the Host by default), and gets a 403 forbidden. Without trusted
//     proxies the address is not checked: the listener is loopback only,
//     and X-Forwarded-For, which anyone can write, is not read.
//
// Programs (SDKs, curl, editors) send no Origin and a loopback Host, so they
// pass. Errors answer in the route's shape (install ErrorShape first).
func LocalOnly(allowedHosts []string, clientIP func(*http.Request) string) func(http.Handler) http.Handler {
	allowed := make(map[string]bool, len(allowedHosts))
	for _, h := range allowedHosts {
		if h != "" {
			allowed[strings.ToLower(h)] = true
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if e := checkLocal(r, allowed, clientIP); e != nil {
				WriteError(w, r, e)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// checkLocal returns the error refusing r, or nil.
func checkLocal(r *http.Request, allowed map[string]bool, clientIP func(*http.Request) string) *api.Error {
	if clientIP != nil {
		if ip := clientIP(r); !isLoopbackHost(ip) {
			return api.NewError(api.CodeForbidden, "Request forwarded for "+strconv.Quote(api.Clip(ip, 100))+
				", which is not this machine: without client keys (--no-auth) the gateway answers only programs on its own machine")
		}
	}
	host := strings.ToLower(r.Host)
	if !allowed[host] && !isLoopbackHost(host) {
		return api.NewError(api.CodeForbidden, "Host "+strconv.Quote(api.Clip(r.Host, 100))+
			" is not this machine: without client keys (--no-auth) the gateway answers only requests addressed to localhost or a loopback address")
	}
	origin, sent := r.Header["Origin"]
	if !sent {
		return nil
	}
	if len(origin) == 1 {
		if u, err := url.Parse(origin[0]); err == nil && u.Host != "" &&
			(u.Scheme == "http" || u.Scheme == "https") &&
			(allowed[strings.ToLower(u.Host)] || isLoopbackHost(strings.ToLower(u.Host))) {
			return nil
		}
	}
	return api.NewError(api.CodeForbidden, "Origin "+strconv.Quote(api.Clip(strings.Join(origin, ","), 100))+
		" is not a loopback origin: without client keys (--no-auth) the gateway refuses requests from web pages")
}

// isLoopbackHost reports whether hostport (a Host header or URL host,
// lowercased, port optional) names localhost or a loopback address.
func isLoopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
	}
	host = strings.TrimSuffix(host, ".")
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
