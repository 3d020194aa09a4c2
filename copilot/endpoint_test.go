package copilot_test

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/copilot"
)

func TestEndpointAPIBase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		base     string
		allowed  []string
		apiURL   string
		want     string
		wantErrs []string // substrings of the error; nil means success
	}{
		{"default when absent", "", nil, "", copilot.DefaultBaseURL, nil},
		{"individual", "", nil, "https://api.individual.githubcopilot.com", "https://api.individual.githubcopilot.com", nil},
		{"business trailing slash", "", nil, "https://api.business.githubcopilot.com/", "https://api.business.githubcopilot.com", nil},
		{"upper case", "", nil, "https://API.Enterprise.GitHubCopilot.com", "https://API.Enterprise.GitHubCopilot.com", nil},
		{"explicit port 443", "", nil, "https://api.githubcopilot.com:443", "https://api.githubcopilot.com:443", nil},
		{"with a path", "", nil, "https://api.githubcopilot.com/v1/", "https://api.githubcopilot.com/v1", nil},
		{"explicit overrides a bad endpoint", "https://copilot.internal.example/", nil, "https://evil.example.com", "https://copilot.internal.example", nil},
		{"explicit overrides http", "http://127.0.0.1:9999", nil, "http://api.githubcopilot.com", "http://127.0.0.1:9999", nil},
		{"evil host", "", nil, "https://evil.example.com", "", []string{`"https://evil.example.com"`, `host "evil.example.com" is not in the allow-list`, "--copilot-api-url"}},
		{"http refused", "", nil, "http://api.githubcopilot.com", "", []string{"not https"}},
		{"another port refused", "", nil, "https://api.githubcopilot.com:8443", "", []string{"port 8443 is not 443"}},
		{"apex not matched by wildcard", "", nil, "https://githubcopilot.com", "", []string{"allow-list"}},
		{"suffix trick", "", nil, "https://api.githubcopilot.com.evil.com", "", []string{"allow-list"}},
		{"no dot boundary", "", nil, "https://evilgithubcopilot.com", "", []string{"allow-list"}},
		{"userinfo", "", nil, "https://u:p@api.githubcopilot.com", "", []string{"user info"}},
		{"query", "", nil, "https://api.githubcopilot.com/?x=1", "", []string{"query or a fragment"}},
		{"fragment", "", nil, "https://api.githubcopilot.com/#x", "", []string{"query or a fragment"}},
		{"empty query", "", nil, "https://api.githubcopilot.com?", "", []string{"query or a fragment"}},
		{"empty fragment", "", nil, "https://api.githubcopilot.com#", "", []string{"query or a fragment"}},
		{"not absolute", "", nil, "api.githubcopilot.com", "", []string{"not an absolute URL"}},
		{"GHE exact", "", []string{"copilot-api.example.ghe.com"}, "https://copilot-api.example.ghe.com", "https://copilot-api.example.ghe.com", nil},
		{"GHE wildcard", "", []string{" *.Example.GHE.com "}, "https://copilot-api.example.ghe.com", "https://copilot-api.example.ghe.com", nil},
		{"GHE wildcard does not match the apex", "", []string{"*.example.ghe.com"}, "https://example.ghe.com", "", []string{"allow-list"}},
		{"GHE exact does not allow others", "", []string{"copilot-api.example.ghe.com"}, "https://other.example.ghe.com", "", []string{"allow-list"}},
		{"GHE host on another port", "", []string{"copilot-api.example.ghe.com"}, "https://copilot-api.example.ghe.com:8443", "", []string{"port 8443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := copilot.Endpoint{BaseURL: tt.base, AllowedHosts: tt.allowed}
			got, err := e.APIBase(&copilot.Token{Value: "tid=secret-value", APIURL: tt.apiURL})
			if tt.wantErrs == nil {
				if err != nil || got != tt.want {
					t.Fatalf("APIBase = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var hna *copilot.HostNotAllowedError
			if !errors.As(err, &hna) || got != "" {
				t.Fatalf("APIBase = %q, %v; want *HostNotAllowedError", got, err)
			}
			for _, w := range tt.wantErrs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, secret := range []string{"secret-value", "u:p", "x=1"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error contains %q: %q", secret, err)
				}
			}
		})
	}
	// No token at all is the default too.
	if got, err := (copilot.Endpoint{}).APIBase(nil); got != copilot.DefaultBaseURL || err != nil {
		t.Fatalf("APIBase(nil) = %q, %v", got, err)
	}
}

func TestEndpointRoute(t *testing.T) {
	t.Parallel()
	const local = "http://127.0.0.1:9999"
	ghe := copilot.EndpointFor("https://api.example.ghe.com", "")
	tests := []struct {
		name     string
		endpoint copilot.Endpoint
		apiURL   string // the token's endpoints.api
		url      string // where the request is addressed
		want     string // "" means refused
		wantText string // substring of a refusal
	}{
		// DefaultBaseURL is the logical address: it moves to the token's API.
		{"default without endpoints.api", copilot.Endpoint{}, "", copilot.DefaultBaseURL + "/chat/completions", "https://api.githubcopilot.com/chat/completions", ""},
		{"moved to endpoints.api", copilot.Endpoint{}, "https://api.business.githubcopilot.com", copilot.DefaultBaseURL + "/chat/completions",
			"https://api.business.githubcopilot.com/chat/completions", ""},
		{"path and query kept", copilot.Endpoint{}, "https://api.individual.githubcopilot.com/", copilot.DefaultBaseURL + "/models?a=b&c=%2F",
			"https://api.individual.githubcopilot.com/models?a=b&c=%2F", ""},
		{"the bare base", copilot.Endpoint{}, "https://api.individual.githubcopilot.com", copilot.DefaultBaseURL, "https://api.individual.githubcopilot.com", ""},
		{"a query on the base", copilot.Endpoint{}, "https://api.individual.githubcopilot.com", copilot.DefaultBaseURL + "?a=b", "https://api.individual.githubcopilot.com?a=b", ""},
		{"under a path of endpoints.api", copilot.Endpoint{}, "https://api.individual.githubcopilot.com/v1", copilot.DefaultBaseURL + "/models",
			"https://api.individual.githubcopilot.com/v1/models", ""},
		{"not a prefix at a path boundary", copilot.Endpoint{}, "https://api.individual.githubcopilot.com", "https://api.githubcopilot.comevil.example/x", "", "allow-list"},
		{"an allowed host addressed directly", copilot.Endpoint{}, "https://api.business.githubcopilot.com", "https://api.individual.githubcopilot.com/models",
			"https://api.individual.githubcopilot.com/models", ""},
		// An explicit BaseURL is honoured, whatever its scheme and port.
		{"explicit BaseURL with a prefix", copilot.Endpoint{BaseURL: local + "/prefix"}, "https://evil.example", copilot.DefaultBaseURL + "/chat/completions?x=1",
			local + "/prefix/chat/completions?x=1", ""},
		{"addressed to the explicit BaseURL", copilot.Endpoint{BaseURL: local + "/prefix/"}, "", local + "/prefix/models", local + "/prefix/models", ""},
		{"explicit BaseURL's origin, another path", copilot.Endpoint{BaseURL: local + "/prefix"}, "", local + "/other", local + "/other", ""},
		{"explicit BaseURL, another port", copilot.Endpoint{BaseURL: local}, "", "http://127.0.0.1:9998/models", "", "not https"},
		{"explicit BaseURL with user info", copilot.Endpoint{BaseURL: "http://alice:s3cret@127.0.0.1:9999"}, "", copilot.DefaultBaseURL + "/models", "", "user info"},
		// The policy.
		{"explicit port 443", copilot.Endpoint{}, "", "https://api.githubcopilot.com:443/models", "https://api.githubcopilot.com:443/models", ""},
		{"port refused", copilot.Endpoint{}, "", "https://api.githubcopilot.com:8443/models", "", "port 8443 is not 443"},
		{"scheme refused", copilot.Endpoint{}, "", "http://x.githubcopilot.com/models", "", "not https"},
		{"host refused", copilot.Endpoint{}, "", "https://evil.example/models", "", `host "evil.example" is not in the allow-list`},
		{"user info refused", copilot.Endpoint{}, "", "https://alice:s3cret@api.githubcopilot.com/models", "", "user info"},
		{"user only refused", copilot.Endpoint{}, "", "https://alice@api.githubcopilot.com/models", "", "user info"},
		{"endpoints.api with user info refused", copilot.Endpoint{}, "https://alice:s3cret@api.githubcopilot.com", copilot.DefaultBaseURL + "/models", "", "user info"},
		{"endpoints.api on another port refused", copilot.Endpoint{}, "https://api.githubcopilot.com:8443", copilot.DefaultBaseURL + "/models", "", "port 8443"},
		{"endpoints.api off the list refused", copilot.Endpoint{}, "https://evil.example", copilot.DefaultBaseURL + "/models", "", "allow-list"},
		{"GHE allowed with EndpointFor", ghe, "https://copilot-api.example.ghe.com", copilot.DefaultBaseURL + "/chat/completions",
			"https://copilot-api.example.ghe.com/chat/completions", ""},
		{"GHE addressed directly with EndpointFor", ghe, "", "https://copilot-api.example.ghe.com/models", "https://copilot-api.example.ghe.com/models", ""},
		{"GHE refused without", copilot.Endpoint{}, "https://copilot-api.example.ghe.com", copilot.DefaultBaseURL + "/chat/completions", "", "allow-list"},
		{"GHE refused with github.com's policy", copilot.EndpointFor("https://api.github.com", ""), "", "https://copilot-api.example.ghe.com/models", "", "allow-list"},
		{"another GHE tenant refused", ghe, "https://copilot-api.other.ghe.com", copilot.DefaultBaseURL + "/models", "", "allow-list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			orig := u.String()
			got, err := tt.endpoint.Route(u, &copilot.Token{Value: "tid=secret-value", APIURL: tt.apiURL})
			if u.String() != orig {
				t.Errorf("Route modified its argument: %s", u)
			}
			if tt.want != "" {
				if err != nil || got.String() != tt.want {
					t.Fatalf("Route(%s) = %v, %v; want %s", tt.url, got, err, tt.want)
				}
				return
			}
			ue, ok := err.(*copilot.UnavailableError)
			if !ok || got != nil {
				t.Fatalf("Route(%s) = %v, %v (%T); want an *UnavailableError", tt.url, got, err, err)
			}
			hna, ok := ue.Cause.(*copilot.HostNotAllowedError)
			if !ok || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("Route(%s) error %q (cause %T); want a *HostNotAllowedError saying %q", tt.url, err, ue.Cause, tt.wantText)
			}
			for _, secret := range []string{"secret-value", "alice", "s3cret"} {
				if strings.Contains(err.Error(), secret) || strings.Contains(hna.URL, secret) {
					t.Errorf("refusal %q (URL %q) holds %q", err, hna.URL, secret)
				}
			}
		})
	}
}

func TestEndpointFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		github, copilotURL string
		want               copilot.Endpoint
	}{
		{"https://api.github.com", "", copilot.Endpoint{}},
		{"https://api.github.com/", " https://copilot.internal.example/ ", copilot.Endpoint{BaseURL: "https://copilot.internal.example"}},
		{"https://api.example.ghe.com", "", copilot.Endpoint{AllowedHosts: []string{"copilot-api.example.ghe.com"}}},
		{"https://API.Example.GHE.com/", "", copilot.Endpoint{AllowedHosts: []string{"copilot-api.example.ghe.com"}}},
		{"https://api.example.ghe.com", "http://127.0.0.1:9", copilot.Endpoint{BaseURL: "http://127.0.0.1:9", AllowedHosts: []string{"copilot-api.example.ghe.com"}}},
		{"https://github.example.com/api/v3", "", copilot.Endpoint{}}, // GHES: no Copilot host guessed
		{"https://api.localhost", "", copilot.Endpoint{}},
		{"http://[::1", "", copilot.Endpoint{}}, // unparsable
	}
	for _, tt := range tests {
		got := copilot.EndpointFor(tt.github, tt.copilotURL)
		if got.BaseURL != tt.want.BaseURL || !slices.Equal(got.AllowedHosts, tt.want.AllowedHosts) {
			t.Errorf("EndpointFor(%q, %q) = %+v, want %+v", tt.github, tt.copilotURL, got, tt.want)
		}
	}
}

func TestHostNotAllowedErrorText(t *testing.T) {
	t.Parallel()
	e := &copilot.HostNotAllowedError{URL: "https://evil.example", Reason: "it is not https"}
	want := `refusing to send the Copilot token to "https://evil.example": it is not https; set --copilot-api-url to choose the Copilot API explicitly`
	if e.Error() != want {
		t.Fatalf("Error() = %q", e)
	}
	ue := &copilot.UnavailableError{Cause: e}
	if !strings.Contains(ue.Error(), want) || !errors.Is(ue, e) {
		t.Fatalf("UnavailableError text %q", ue)
	}
}
