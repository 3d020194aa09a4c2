package middleware

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
)

// headerXFF is the header a reverse proxy names the client in, one entry
// appended per hop.
const headerXFF = "X-Forwarded-For"

// NewClientIP returns the function that gives a request's client address,
// the key of every per-address decision and record (the failed
// authentication throttles, the access log, the local-only check).
//
// With no trusted proxies it is the host of r.RemoteAddr, as is, and
// X-Forwarded-For is never read: any client could write it.
//
// With trusted proxies (single addresses or ranges), a request whose direct
// peer (the host of r.RemoteAddr) is not trusted is judged by that peer and
// its X-Forwarded-For is ignored. From a trusted peer, X-Forwarded-For is
// walked from the rightmost entry leftward (several header lines are one
// list, in order), skipping the trusted entries: the first untrusted one is
// the client. Entries left of it were written by the client and are never
// read, so a client that forges entries cannot choose its address. When
// every entry is trusted, the leftmost is the client.
//
// An entry is an IPv4 or IPv6 address, optionally in brackets, with a port
// or an IPv6 zone (both dropped). Empty list elements are skipped, as
// HTTP's list syntax says. Anything else ("unknown", an obfuscated
// identifier, a host name, garbage) stops the walk: the client is then the
// last trusted hop, the nearest proxy that named it, which is safe since
// only entries from trusted proxies were believed. Addresses are normalised
// (an IPv4-mapped IPv6 address is the IPv4 address, zones are dropped,
// IPv6 in its canonical form) so one client is one key; a peer that is not
// an IP address at all is returned as is.
//
// Prefixes whose address is an IPv4-mapped IPv6 address (::ffff:a.b.c.d/n,
// n >= 96) are taken as the IPv4 range they map; use ParseTrustedProxy to
// read them from text.
func NewClientIP(trusted []netip.Prefix) func(r *http.Request) string {
	if len(trusted) == 0 {
		return peerIP
	}
	t := make(trustedProxies, 0, len(trusted))
	for _, p := range trusted {
		t = append(t, normalizePrefix(p))
	}
	return t.clientIP
}

// peerIP is the host of r.RemoteAddr: the client address without trusted
// proxies.
func peerIP(r *http.Request) string { return remoteIP(r.RemoteAddr) }

// trustedProxies are the proxies whose X-Forwarded-For entries are
// believed.
type trustedProxies []netip.Prefix

func (t trustedProxies) contains(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP resolves r's client address (see NewClientIP).
func (t trustedProxies) clientIP(r *http.Request) string {
	raw := remoteIP(r.RemoteAddr)
	addr, ok := parseHop(raw)
	if !ok {
		return raw // not an IP address: nothing to trust or normalise
	}
	if !t.contains(addr) {
		return addrText(raw, addr)
	}
	// raw and addr are the last trusted hop as the walk goes left.
	lines := r.Header[headerXFF]
	for i := len(lines) - 1; i >= 0; i-- {
		for rest := lines[i]; rest != ""; {
			comma := strings.LastIndexByte(rest, ',')
			entry := textproto.TrimString(rest[comma+1:])
			rest = rest[:max(comma, 0)]
			if entry == "" {
				continue
			}
			hop, ok := parseHop(entry)
			if !ok {
				return addrText(raw, addr) // a proxy named no address: stop at it
			}
			raw, addr = entry, hop
			if !t.contains(hop) {
				return addrText(raw, addr)
			}
		}
	}
	return addrText(raw, addr)
}

// parseHop parses an X-Forwarded-For entry or a peer address (see
// NewClientIP for the forms accepted) and normalises it.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		var ap netip.AddrPort
		if ap, err = netip.ParseAddrPort(s); err == nil {
			a = ap.Addr()
		} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
		}
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// addrText is a's text: raw itself when it already is that text, which
// spares the common case an allocation.
func addrText(raw string, a netip.Addr) string {
	var buf [64]byte
	if string(a.AppendTo(buf[:0])) == raw {
		return raw
	}
	return a.String()
}

// normalizePrefix masks p and turns an IPv4-mapped range into the IPv4
// range it maps, as addresses are unmapped before they are matched.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// ParseTrustedProxy parses a trusted proxy: an IP address (that one host)
// or a CIDR range such as 10.0.0.0/8 or fd00::/8. A range with bits set
// beyond its mask (10.0.0.1/8) is refused as likely a typo; an IPv4-mapped
// address or range is taken as the IPv4 one, and a zone is dropped. The
// error quotes s and says what is wanted.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, notAProxy(s)
		}
		a = a.Unmap().WithZone("")
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() && p.Bits() < 96 {
		return netip.Prefix{}, notAProxy(s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%q has address bits set beyond its /%d mask: write the range as %s", s, p.Bits(), m)
	}
	return normalizePrefix(p), nil
}

func notAProxy(s string) error {
	return fmt.Errorf("%q is not an IP address or a CIDR range (want e.g. 10.0.0.1, 10.0.0.0/8 or fd00::/8)", s)
}
