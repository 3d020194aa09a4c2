package copilot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// Redirects are never followed: a second request would carry the Copilot
// token, the GitHub token, the device code or the prompt to a place nobody
// configured. Each test answers with a 3xx pointing at a second server that
// counts what it receives, reachable both as the same host on another port
// and as another host name; the control test shows that a client following
// redirects does reach it, so a count of zero means something.

// otherHost is a host name the test base transports dial to the target.
const otherHost = "redirect-target.test"

// redirectTarget counts every request it receives.
type redirectTarget struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD /path Authorization body"
}

func newRedirectTarget(t *testing.T) *redirectTarget {
	t.Helper()
	rt := &redirectTarget{}
	rt.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rt.mu.Lock()
		rt.seen = append(rt.seen, fmt.Sprintf("%s %s %s %s", r.Method, r.URL.Path, r.Header.Get("Authorization"), b))
		rt.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(rt.srv.Close)
	return rt
}

func (rt *redirectTarget) requests() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]string(nil), rt.seen...)
}

// targets are the two places a redirect points to.
func (rt *redirectTarget) targets() []struct{ name, url string } {
	return []struct{ name, url string }{
		{"same host, another port", rt.srv.URL + "/landing"},
		{"another host", "http://" + otherHost + "/landing"},
	}
}

// base returns a network transport that dials otherHost to the target and
// everything else as asked; its idle connections close with the test.
func (rt *redirectTarget) base(t *testing.T) *http.Transport {
	t.Helper()
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(addr); host == otherHost {
			addr = rt.srv.Listener.Addr().String()
		}
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// redirectingServer answers every request with status and a Location of
// loc, except the paths in normal, which it answers with their body. It
// counts the requests it redirected.
func redirectingServer(t *testing.T, status int, loc string, normal map[string]string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if body, ok := normal[r.URL.Path]; ok {
			_, _ = io.WriteString(w, body)
			return
		}
		n.Add(1)
		w.Header().Set("Location", loc)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

var redirectStatuses = []int{http.StatusFound, http.StatusTemporaryRedirect}

// The harness is sound: a client that follows redirects reaches the target
// both ways, with the body on a 307.
func TestRedirectHarnessFollows(t *testing.T) {
	t.Parallel()
	target := newRedirectTarget(t)
	base := target.base(t)
	for _, status := range redirectStatuses {
		for _, to := range target.targets() {
			src, _ := redirectingServer(t, status, to.url, nil)
			before := len(target.requests())
			resp, err := (&http.Client{Transport: base}).Post(src.URL+"/x", "application/json", strings.NewReader(chatBody))
			if err != nil {
				t.Fatalf("%d to %s: %v", status, to.name, err)
			}
			resp.Body.Close()
			got := target.requests()
			if len(got) != before+1 || (status == http.StatusTemporaryRedirect && !strings.HasSuffix(got[len(got)-1], chatBody)) {
				t.Fatalf("%d to %s: the target saw %q", status, to.name, got[before:])
			}
		}
	}
}

func TestTransportNeverFollowsRedirects(t *testing.T) {
	t.Parallel()
	target := newRedirectTarget(t)
	clients := []struct {
		name string
		do   func(tr *copilot.Transport, req *http.Request) (*http.Response, error)
	}{
		{"NewClient", func(tr *copilot.Transport, req *http.Request) (*http.Response, error) {
			return copilot.NewClient(tr).Do(req)
		}},
		{"plain http.Client", func(tr *copilot.Transport, req *http.Request) (*http.Response, error) {
			return (&http.Client{Transport: tr}).Do(req)
		}},
		{"RoundTrip", func(tr *copilot.Transport, req *http.Request) (*http.Response, error) { return tr.RoundTrip(req) }},
	}
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, to := range target.targets() {
			for _, c := range clients {
				t.Run(fmt.Sprintf("%d to %s via %s", status, to.name, c.name), func(t *testing.T) {
					t.Parallel()
					src, redirected := redirectingServer(t, status, to.url, nil)
					var logs logBuffer
					tr := &copilot.Transport{
						Source:   staticToken(&copilot.Token{Value: "tid=copilot-secret", ExpiresAt: time.Now().Add(time.Hour)}),
						Base:     target.base(t),
						Endpoint: copilot.Endpoint{BaseURL: src.URL},
						Logger:   zerolog.New(&logs).Level(zerolog.DebugLevel),
						Quota:    &copilot.QuotaTracker{},
					}
					resp, err := c.do(tr, chatReq(t, t.Context(), chatBody))
					var re *copilot.RedirectError
					if resp != nil || !errors.As(err, &re) || re.Status != status {
						t.Fatalf("= %v, %v; want a *RedirectError for %d", resp, err, status)
					}
					if redirected.Load() != 1 {
						t.Fatalf("the upstream got %d requests, want 1", redirected.Load())
					}
					if got := target.requests(); len(got) != 0 {
						t.Fatalf("the redirect was followed: the target got %q", got)
					}
					for _, s := range []string{"copilot-secret", otherHost, "landing"} {
						if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
							t.Errorf("the error or the logs hold %q: %v; %s", s, err, logs.String())
						}
					}
				})
			}
		}
	}
}

// A redirect on the retry after a 401 is refused too.
func TestTransportRedirectOnRetry(t *testing.T) {
	t.Parallel()
	target := newRedirectTarget(t)
	var calls atomic.Int32
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Location", "http://"+otherHost+"/landing")
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	t.Cleanup(src.Close)
	tokens := &stubTokens{next: func(call int) (*copilot.Token, error) {
		return &copilot.Token{Value: fmt.Sprintf("tid=%d", call), ExpiresAt: time.Now().Add(time.Hour)}, nil
	}}
	tr := &copilot.Transport{Source: tokens, Base: target.base(t), Endpoint: copilot.Endpoint{BaseURL: src.URL}}
	_, err := copilot.NewClient(tr).Do(chatReq(t, t.Context(), chatBody))
	var re *copilot.RedirectError
	if !errors.As(err, &re) || re.Status != http.StatusTemporaryRedirect || calls.Load() != 2 {
		t.Fatalf("Do = %v after %d requests; want a *RedirectError on the retry", err, calls.Load())
	}
	if got := target.requests(); len(got) != 0 {
		t.Fatalf("the redirect was followed: the target got %q", got)
	}
}

func TestAuthNeverFollowsRedirects(t *testing.T) {
	t.Parallel()
	target := newRedirectTarget(t)
	calls := []struct {
		name string
		call func(a *copilot.Auth) error
	}{
		{"Exchange", func(a *copilot.Auth) error { _, err := a.Exchange(context.Background()); return err }},
		{"User", func(a *copilot.Auth) error {
			_, err := a.User(context.Background())
			if err != nil && !errors.As(err, new(*copilot.UserError)) {
				return fmt.Errorf("not a *UserError: %w", err)
			}
			return err
		}},
	}
	for _, status := range redirectStatuses {
		for _, to := range target.targets() {
			for _, c := range calls {
				for _, nilClient := range []bool{false, true} {
					if nilClient && to.url != target.srv.URL+"/landing" {
						continue // the default client dials for real: only the same host is reachable
					}
					name := fmt.Sprintf("%s %d to %s", c.name, status, to.name)
					if nilClient {
						name += " with the default client"
					}
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						src, redirected := redirectingServer(t, status, to.url, nil)
						var hc *http.Client
						if !nilClient {
							hc = &http.Client{Transport: target.base(t)} // follows redirects by itself
						}
						err := c.call(copilot.NewAuth(hc, src.URL, copilottest.GitHubToken, copilot.DefaultEditor()))
						var xe *copilot.ExchangeError
						if !errors.As(err, &xe) || xe.Kind != copilot.KindTransient || xe.Hard() || !errors.As(err, new(*copilot.RedirectError)) {
							t.Fatalf("err = %v; want a transient *ExchangeError caused by a *RedirectError", err)
						}
						if hc != nil && hc.CheckRedirect != nil {
							t.Error("NewAuth modified the caller's client")
						}
						if redirected.Load() != 1 {
							t.Fatalf("GitHub got %d requests, want 1", redirected.Load())
						}
						if got := target.requests(); len(got) != 0 {
							t.Fatalf("the redirect was followed: the target got %q", got)
						}
						if strings.Contains(err.Error(), copilottest.GitHubToken) {
							t.Fatalf("the error holds the GitHub token: %v", err)
						}
					})
				}
			}
		}
	}
}

func TestDeviceFlowNeverFollowsRedirects(t *testing.T) {
	t.Parallel()
	target := newRedirectTarget(t)
	const deviceCode = "dc-secret-123"
	startAnswer := `{"device_code":"` + deviceCode + `","user_code":"AAAA-BBBB","verification_uri":"https://example.test/login/device","expires_in":900,"interval":5}`
	for _, status := range redirectStatuses {
		for _, to := range target.targets() {
			t.Run(fmt.Sprintf("start %d to %s", status, to.name), func(t *testing.T) {
				t.Parallel()
				src, redirected := redirectingServer(t, status, to.url, nil)
				hc := &http.Client{Transport: target.base(t)}
				_, err := (&copilot.DeviceFlow{HTTPClient: hc, GitHubURL: src.URL}).Start(t.Context())
				var de *copilot.DeviceError
				if !errors.As(err, &de) || de.Op != "start" || !errors.As(err, new(*copilot.RedirectError)) {
					t.Fatalf("err = %v; want a start *DeviceError caused by a *RedirectError", err)
				}
				if hc.CheckRedirect != nil {
					t.Error("the flow modified the caller's client")
				}
				if redirected.Load() != 1 {
					t.Fatalf("GitHub got %d requests, want 1", redirected.Load())
				}
				if got := target.requests(); len(got) != 0 {
					t.Fatalf("the redirect was followed: the target got %q", got)
				}
			})
			t.Run(fmt.Sprintf("poll %d to %s", status, to.name), func(t *testing.T) {
				t.Parallel()
				src, redirected := redirectingServer(t, status, to.url, map[string]string{"/login/device/code": startAnswer})
				res := drivePoll(t, &copilot.DeviceFlow{HTTPClient: &http.Client{Transport: target.base(t)}, GitHubURL: src.URL}, newStepClock())
				var de *copilot.DeviceError
				if res.token != "" || !errors.As(res.err, &de) || de.Op != "poll" || !errors.As(res.err, new(*copilot.RedirectError)) {
					t.Fatalf("Poll = %q, %v; want a poll *DeviceError caused by a *RedirectError", res.token, res.err)
				}
				if redirected.Load() < 1 {
					t.Fatal("GitHub got no poll")
				}
				if got := target.requests(); len(got) != 0 {
					t.Fatalf("the redirect was followed: the target got %q", got)
				}
				if strings.Contains(res.err.Error(), deviceCode) {
					t.Fatalf("the error holds the device code: %v", res.err)
				}
			})
		}
	}
	// The default client (nil HTTPClient) refuses too.
	src, _ := redirectingServer(t, http.StatusTemporaryRedirect, target.srv.URL+"/landing", nil)
	if _, err := (&copilot.DeviceFlow{GitHubURL: src.URL}).Start(t.Context()); !errors.As(err, new(*copilot.RedirectError)) {
		t.Fatalf("default client: err = %v", err)
	}
	if got := target.requests(); len(got) != 0 {
		t.Fatalf("the redirect was followed: the target got %q", got)
	}
}
