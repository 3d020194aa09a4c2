package middleware

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// xffRequest is a request from peer (a RemoteAddr) carrying the given
// X-Forwarded-For header lines, in order.
func xffRequest(peer string, xff ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = peer
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

// testTrusted are the trusted proxies of the resolver tests: a private
// range, one address, an IPv6 range, and an IPv4 range written IPv4-mapped.
func testTrusted() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.10/32"),
		netip.MustParsePrefix("2001:db8:ffff::/48"),
		netip.MustParsePrefix("::ffff:198.51.100.0/120"), // 198.51.100.0/24
	}
}

func TestClientIPResolves(t *testing.T) {
	t.Parallel()
	resolve := NewClientIP(testTrusted())
	for _, tt := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer, no header", "203.0.113.7:1234", nil, "203.0.113.7"},
		{"untrusted peer's header is ignored", "203.0.113.7:1234", []string{"10.0.0.2, 198.51.100.99"}, "203.0.113.7"},
		{"untrusted peer's lone header is ignored", "203.0.113.7:1234", []string{"1.2.3.4"}, "203.0.113.7"},
		{"trusted peer, no header", "10.0.0.1:1234", nil, "10.0.0.1"},
		{"trusted peer names the client", "10.0.0.1:1234", []string{"203.0.113.5"}, "203.0.113.5"},
		{"chain of trusted proxies", "10.0.0.1:1234", []string{"203.0.113.5, 198.51.100.4, 192.0.2.10, 10.0.0.3"}, "203.0.113.5"},
		{"every entry trusted: the leftmost", "10.0.0.1:1234", []string{"10.0.0.5, 192.0.2.10, 10.0.0.4"}, "10.0.0.5"},
		{"untrusted hop in the middle is the client", "10.0.0.1:1234", []string{"10.0.0.9, 203.0.113.5, 10.0.0.3"}, "203.0.113.5"},
		{"header lines are one list", "10.0.0.1:1234", []string{"203.0.113.5", "10.0.0.3"}, "203.0.113.5"},
		{"header lines, last one decides", "10.0.0.1:1234", []string{"6.6.6.6", "203.0.113.5, 10.0.0.3"}, "203.0.113.5"},
		{"header lines all trusted", "10.0.0.1:1234", []string{"10.0.0.9", "10.0.0.3"}, "10.0.0.9"},
		{"blanks around entries", "10.0.0.1:1234", []string{" \t203.0.113.5 ,10.0.0.3\t"}, "203.0.113.5"},
		{"empty elements are skipped", "10.0.0.1:1234", []string{"203.0.113.5, , ,", ""}, "203.0.113.5"},
		{"only empty elements", "10.0.0.1:1234", []string{"", " , "}, "10.0.0.1"},
		{"IPv6 peer and client", "[2001:db8:ffff::1]:443", []string{"2001:DB8:0:0::5"}, "2001:db8::5"},
		{"IPv6 client via IPv4 proxy", "10.0.0.1:1", []string{"2001:db8::5"}, "2001:db8::5"},
		{"IPv4-mapped client", "10.0.0.1:1", []string{"::ffff:203.0.113.5"}, "203.0.113.5"},
		{"IPv4-mapped peer is trusted", "[::ffff:10.0.0.1]:1", []string{"203.0.113.5"}, "203.0.113.5"},
		{"IPv4-mapped trusted range", "198.51.100.7:1", []string{"203.0.113.5"}, "203.0.113.5"},
		{"IPv4-mapped trusted entry is skipped", "10.0.0.1:1", []string{"203.0.113.5, ::ffff:10.0.0.3"}, "203.0.113.5"},
		{"untrusted IPv4-mapped peer is normalised", "[::ffff:203.0.113.7]:1", nil, "203.0.113.7"},
		{"zone dropped", "10.0.0.1:1", []string{"fe80::1%eth0"}, "fe80::1"},
		{"zoned peer normalised", "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"bracketed IPv6", "10.0.0.1:1", []string{"[2001:db8::5]"}, "2001:db8::5"},
		{"bracketed IPv6 with port", "10.0.0.1:1", []string{"[2001:db8::5]:443"}, "2001:db8::5"},
		{"IPv4 with port", "10.0.0.1:1", []string{"203.0.113.5:8080"}, "203.0.113.5"},
		{"unknown: the peer", "10.0.0.1:1", []string{"unknown"}, "10.0.0.1"},
		{"garbage stops the walk at the peer", "10.0.0.1:1", []string{"203.0.113.5, not-an-ip"}, "10.0.0.1"},
		{"garbage stops at the last trusted hop", "10.0.0.1:1", []string{"203.0.113.5, _hidden, 10.0.0.3"}, "10.0.0.3"},
		{"host name is not an address", "10.0.0.1:1", []string{"client.example.com"}, "10.0.0.1"},
		{"two addresses in one entry", "10.0.0.1:1", []string{"203.0.113.5 203.0.113.6"}, "10.0.0.1"},
		{"empty brackets", "10.0.0.1:1", []string{"[]"}, "10.0.0.1"},
		{"peer without a port", "10.0.0.1", []string{"203.0.113.5"}, "203.0.113.5"},
		{"peer not an IP address is kept as is", "pipe", []string{"203.0.113.5"}, "pipe"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := resolve(xffRequest(tt.peer, tt.xff...)); got != tt.want {
				t.Errorf("peer %s, X-Forwarded-For %q: client %q, want %q", tt.peer, tt.xff, got, tt.want)
			}
		})
	}
}

// TestClientIPSpoofing: whatever a client writes into X-Forwarded-For
// before the trusted proxy appends the address it saw, that address is its
// key; and a client reaching the gateway directly cannot borrow another
// address with the header.
func TestClientIPSpoofing(t *testing.T) {
	t.Parallel()
	resolve := NewClientIP(testTrusted())
	forged := []string{
		"", "198.51.100.1", "10.0.0.1", "192.0.2.10", "::1", "127.0.0.1", "unknown", ",,,",
		"203.0.113.99, 10.0.0.2", "garbage, 10.0.0.2", "[2001:db8:ffff::9]:1", strings.Repeat("10.0.0.7, ", 100),
	}
	for _, f := range forged {
		// nginx's $proxy_add_x_forwarded_for: the client's header, then
		// the address nginx saw.
		via := xffRequest("10.0.0.1:5", f+", 203.0.113.5")
		if got := resolve(via); got != "203.0.113.5" {
			t.Errorf("through the proxy, forged %q: client %q, want 203.0.113.5", f, got)
		}
		lines := xffRequest("10.0.0.1:5", f, "203.0.113.5") // the proxy adds its own line
		if got := resolve(lines); got != "203.0.113.5" {
			t.Errorf("through the proxy on its own line, forged %q: client %q, want 203.0.113.5", f, got)
		}
		direct := xffRequest("203.0.113.5:5", f)
		if got := resolve(direct); got != "203.0.113.5" {
			t.Errorf("direct, forged %q: client %q, want 203.0.113.5", f, got)
		}
	}
}

// TestClientIPWithoutTrustedProxies: no trusted proxy is today's behaviour,
// the host of RemoteAddr as it is, whatever the header says.
func TestClientIPWithoutTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, trusted := range [][]netip.Prefix{nil, {}} {
		resolve := NewClientIP(trusted)
		for peer, want := range map[string]string{
			"203.0.113.7:1234":      "203.0.113.7",
			"[::ffff:10.0.0.1]:1":   "::ffff:10.0.0.1",
			"[2001:db8::1]:80":      "2001:db8::1",
			"127.0.0.1:9":           "127.0.0.1",
			"not an address at all": "not an address at all",
		} {
			if got := resolve(xffRequest(peer, "198.51.100.1", "10.0.0.1")); got != want {
				t.Errorf("trusted %v, peer %s: %q, want %q", trusted, peer, got, want)
			}
		}
	}
}

func TestParseTrustedProxy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, want, wantErr string
	}{
		{in: "10.0.0.1", want: "10.0.0.1/32"},
		{in: " 10.0.0.0/8 ", want: "10.0.0.0/8"},
		{in: "172.28.0.0/24", want: "172.28.0.0/24"},
		{in: "fd00::/8", want: "fd00::/8"},
		{in: "2001:DB8::1", want: "2001:db8::1/128"},
		{in: "::ffff:10.0.0.1", want: "10.0.0.1/32"},
		{in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{in: "fe80::1%eth0", want: "fe80::1/128"},
		{in: "0.0.0.0/0", want: "0.0.0.0/0"},
		{in: "", wantErr: `"" is not an IP address or a CIDR range`},
		{in: "nginx", wantErr: `"nginx" is not an IP address or a CIDR range`},
		{in: "10.0.0.1:80", wantErr: "is not an IP address"},
		{in: "10.0.0.0/33", wantErr: "is not an IP address"},
		{in: "10.0.0.0/8/8", wantErr: "is not an IP address"},
		{in: "::ffff:0.0.0.0/95", wantErr: "is not an IP address"},
		{in: "fe80::%eth0/64", wantErr: "is not an IP address"},
		{in: "10.0.0.1/8", wantErr: `"10.0.0.1/8" has address bits set beyond its /8 mask: write the range as 10.0.0.0/8`},
		{in: "fd00::1/8", wantErr: "write the range as fd00::/8"},
	} {
		got, err := ParseTrustedProxy(tt.in)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseTrustedProxy(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got.String() != tt.want):
			t.Errorf("ParseTrustedProxy(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// TestClientIPCanonicalDoesNotAllocate: an entry already in canonical form
// is returned as is, so resolving on every request (the access log) costs
// no allocation.
func TestClientIPCanonicalDoesNotAllocate(t *testing.T) {
	resolve := NewClientIP(testTrusted())
	r := xffRequest("10.0.0.1:5", "203.0.113.5, 10.0.0.3")
	if n := testing.AllocsPerRun(100, func() { _ = resolve(r) }); n != 0 {
		t.Errorf("%v allocations per resolution, want 0", n)
	}
}
