package copilot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// stepClock is a manual clock that reports every After call on waits, so a
// driver can advance it by exactly the duration asked for.
type stepClock struct {
	*copilottest.Clock
	waits chan time.Duration
}

func newStepClock() *stepClock {
	return &stepClock{Clock: copilottest.NewClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)), waits: make(chan time.Duration, 100)}
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	ch := c.Clock.After(d) // registered before it is announced
	c.waits <- d
	return ch
}

type pollResult struct {
	token    string
	err      error
	waits    []time.Duration // durations given to Clock.After
	onWait   []string        // "attempt:interval" from the onWait callback
	duration time.Duration   // simulated time spent
}

// drivePoll runs Start and Poll against flow, advancing the clock by every
// wait as soon as it is asked for: no real sleeping.
func drivePoll(t *testing.T, flow *copilot.DeviceFlow, clk *stepClock) pollResult {
	t.Helper()
	flow.Clock = clk
	dc, err := flow.Start(t.Context())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	start := clk.Now()
	var res pollResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		res.token, res.err = flow.Poll(t.Context(), dc, func(attempt int, interval time.Duration) {
			res.onWait = append(res.onWait, fmt.Sprintf("%d:%s", attempt, interval))
		})
	}()
	for {
		select {
		case d := <-clk.waits:
			res.waits = append(res.waits, d)
			clk.Advance(d)
		case <-done:
			res.duration = clk.Now().Sub(start)
			return res
		case <-time.After(10 * time.Second):
			t.Fatal("Poll did not finish")
		}
	}
}

func secs(ns ...int) []time.Duration {
	out := make([]time.Duration, len(ns))
	for i, n := range ns {
		out[i] = time.Duration(n) * time.Second
	}
	return out
}

func TestDeviceFlowPoll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       copilottest.DeviceFlowConfig
		wantToken string
		wantErr   error  // errors.Is target
		wantText  string // substring of the error
		wantWaits []time.Duration
		wantPolls int
	}{
		{name: "success after several authorization_pending",
			cfg:       copilottest.DeviceFlowConfig{Pending: 3},
			wantToken: copilottest.GitHubToken, wantWaits: secs(5, 5, 5, 5), wantPolls: 4},
		{name: "slow_down adds 5 s to the interval",
			cfg:       copilottest.DeviceFlowConfig{Pending: 3, SlowDownAt: []int{2, 4}, AccessToken: "gho_other"},
			wantToken: "gho_other", wantWaits: secs(5, 5, 10, 10, 15, 15), wantPolls: 6},
		{name: "server interval honoured",
			cfg:       copilottest.DeviceFlowConfig{Interval: 2, Pending: 1},
			wantToken: copilottest.GitHubToken, wantWaits: secs(2, 2), wantPolls: 2},
		{name: "expired_token",
			cfg:     copilottest.DeviceFlowConfig{Pending: 1, Final: "expired_token"},
			wantErr: copilot.ErrDeviceExpired, wantText: "run login again", wantWaits: secs(5, 5), wantPolls: 2},
		{name: "access_denied",
			cfg:     copilottest.DeviceFlowConfig{Final: "access_denied"},
			wantErr: copilot.ErrAccessDenied, wantText: "denied in the browser", wantWaits: secs(5), wantPolls: 1},
		{name: "other OAuth error carries GitHub's description",
			cfg:      copilottest.DeviceFlowConfig{Final: "device_flow_disabled"},
			wantText: "GitHub refused the device login (device_flow_disabled): fake device flow error device_flow_disabled", wantWaits: secs(5), wantPolls: 1},
		{name: "lifetime elapsed by the clock",
			cfg:     copilottest.DeviceFlowConfig{ExpiresIn: 12, Pending: 100},
			wantErr: copilot.ErrDeviceExpired, wantWaits: secs(5, 5, 5), wantPolls: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := copilottest.New(t)
			fake.SetDeviceFlow(tc.cfg)
			flow := &copilot.DeviceFlow{HTTPClient: fake.Client(), GitHubURL: fake.URL()}
			res := drivePoll(t, flow, newStepClock())

			if tc.wantErr != nil && !errors.Is(res.err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", res.err, tc.wantErr)
			}
			if tc.wantText != "" && (res.err == nil || !strings.Contains(res.err.Error(), tc.wantText)) {
				t.Fatalf("err = %v, want it to contain %q", res.err, tc.wantText)
			}
			if tc.wantErr == nil && tc.wantText == "" && res.err != nil {
				t.Fatalf("Poll: %v", res.err)
			}
			if res.token != tc.wantToken {
				t.Errorf("token = %q, want %q", res.token, tc.wantToken)
			}
			if fmt.Sprint(res.waits) != fmt.Sprint(tc.wantWaits) {
				t.Errorf("waits = %v, want %v", res.waits, tc.wantWaits)
			}
			// onWait announces each wait with its attempt number.
			var want []string
			for i, d := range tc.wantWaits {
				want = append(want, fmt.Sprintf("%d:%s", i+1, d))
			}
			if fmt.Sprint(res.onWait) != fmt.Sprint(want) {
				t.Errorf("onWait calls = %v, want %v", res.onWait, want)
			}
			if got := fake.DevicePolls(); got != tc.wantPolls {
				t.Errorf("polls = %d, want %d", got, tc.wantPolls)
			}
			// The device code is never in an error.
			if res.err != nil {
				for _, r := range fake.RequestsTo("/login/oauth/access_token") {
					var body map[string]string
					_ = json.Unmarshal(r.Body, &body)
					if dc := body["device_code"]; dc == "" || strings.Contains(res.err.Error(), dc) {
						t.Fatalf("device code missing from the request or present in the error %q", res.err)
					}
				}
			}
		})
	}
}

func TestDeviceFlowRequests(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	flow := &copilot.DeviceFlow{HTTPClient: fake.Client(), GitHubURL: fake.URL() + "/"}
	res := drivePoll(t, flow, newStepClock())
	if res.err != nil {
		t.Fatal(res.err)
	}
	start := fake.RequestsTo("/login/device/code")
	poll := fake.RequestsTo("/login/oauth/access_token")
	if len(start) != 1 || len(poll) != 1 {
		t.Fatalf("requests: %d start, %d poll", len(start), len(poll))
	}
	var sb, pb map[string]string
	if err := json.Unmarshal(start[0].Body, &sb); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(poll[0].Body, &pb); err != nil {
		t.Fatal(err)
	}
	if sb["client_id"] != copilot.DefaultClientID || sb["scope"] != "read:user" {
		t.Errorf("start body %v", sb)
	}
	if pb["client_id"] != copilot.DefaultClientID || pb["grant_type"] != copilot.DeviceGrantType || pb["device_code"] == "" {
		t.Errorf("poll body %v", pb)
	}
	for _, r := range append(start, poll...) {
		if r.Header.Get("Accept") != "application/json" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: Accept %q Content-Type %q", r.Path, r.Header.Get("Accept"), r.Header.Get("Content-Type"))
		}
	}

	// A custom client id and scope are sent as given.
	fake2 := copilottest.New(t)
	flow2 := &copilot.DeviceFlow{HTTPClient: fake2.Client(), GitHubURL: fake2.URL(), ClientID: "Iv1.custom", Scope: "read:user user:email"}
	if _, err := flow2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(fake2.RequestsTo("/login/device/code")[0].Body, &sb)
	if sb["client_id"] != "Iv1.custom" || sb["scope"] != "read:user user:email" {
		t.Errorf("custom start body %v", sb)
	}
}

func TestDeviceCodeRedacted(t *testing.T) {
	t.Parallel()
	dc := copilot.DeviceCode{DeviceCode: "secret-device-code", UserCode: "WDJB-MJHT", VerificationURI: "https://github.com/login/device"}
	for _, s := range []string{dc.String(), fmt.Sprintf("%v", dc), fmt.Sprintf("%+v", dc), fmt.Sprintf("%#v", dc)} {
		if strings.Contains(s, "secret-device-code") || !strings.Contains(s, "WDJB-MJHT") {
			t.Errorf("formatted device code: %q", s)
		}
	}
}

func TestDeviceFlowCancel(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	fake.SetDeviceFlow(copilottest.DeviceFlowConfig{Pending: 1000})
	clk := newStepClock()
	flow := &copilot.DeviceFlow{HTTPClient: fake.Client(), GitHubURL: fake.URL(), Clock: clk}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dc, err := flow.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := flow.Poll(ctx, dc, nil)
		errc <- err
	}()
	// Let two polls happen, then press Ctrl-C during the third wait.
	for range 2 {
		clk.Advance(<-clk.waits)
	}
	<-clk.waits
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Poll ignored the cancellation")
	}
}

// scriptedGitHub answers the device endpoints with the given poll answers
// (status, body) in turn; the last one repeats.
func scriptedGitHub(t *testing.T, polls ...[2]string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/login/device/code" {
			fmt.Fprint(w, `{"device_code":"dc-secret-123","user_code":"AAAA-BBBB","verification_uri":"https://example.test/login/device","expires_in":900,"interval":5}`)
			return
		}
		i := min(int(n.Add(1))-1, len(polls)-1)
		var status int
		fmt.Sscan(polls[i][0], &status)
		w.WriteHeader(status)
		fmt.Fprint(w, polls[i][1])
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestDeviceFlowPollEdgeCases(t *testing.T) {
	t.Parallel()
	pending := [2]string{"200", `{"error":"authorization_pending"}`}
	ok := [2]string{"200", `{"access_token":"gho_ok","token_type":"bearer"}`}
	bad := [2]string{"502", `<html>bad gateway</html>`}
	tests := []struct {
		name      string
		polls     [][2]string
		wantToken string
		wantText  string
		wantWaits []time.Duration
	}{
		{name: "slow_down takes the server's larger interval",
			polls:     [][2]string{{"200", `{"error":"slow_down","interval":30}`}, ok},
			wantToken: "gho_ok", wantWaits: secs(5, 30)},
		{name: "slow_down without interval adds 5 s",
			polls:     [][2]string{{"200", `{"error":"slow_down"}`}, pending, ok},
			wantToken: "gho_ok", wantWaits: secs(5, 10, 10)},
		{name: "two transient failures are retried",
			polls:     [][2]string{bad, bad, ok},
			wantToken: "gho_ok", wantWaits: secs(5, 5, 5)},
		{name: "three transient failures in a row end it",
			polls:    [][2]string{bad, bad, bad},
			wantText: "GitHub answered 502 Bad Gateway while waiting for the device login", wantWaits: secs(5, 5, 5)},
		{name: "an answer with neither token nor error",
			polls:    [][2]string{{"200", `{"token_type":"bearer"}`}},
			wantText: "neither access_token nor error", wantWaits: secs(5)},
		{name: "a description echoing the device code is redacted",
			polls:    [][2]string{{"200", `{"error":"incorrect_device_code","error_description":"code dc-secret-123 is bad"}`}},
			wantText: "GitHub refused the device login (incorrect_device_code): code [redacted] is bad", wantWaits: secs(5)},
		{name: "a 4xx with an OAuth error",
			polls:    [][2]string{{"400", `{"error":"unsupported_grant_type","error_description":"nope"}`}},
			wantText: "GitHub refused the device login (unsupported_grant_type): nope", wantWaits: secs(5)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := scriptedGitHub(t, tc.polls...)
			res := drivePoll(t, &copilot.DeviceFlow{HTTPClient: srv.Client(), GitHubURL: srv.URL}, newStepClock())
			if res.token != tc.wantToken {
				t.Errorf("token %q, want %q", res.token, tc.wantToken)
			}
			if tc.wantText == "" && res.err != nil {
				t.Fatal(res.err)
			}
			if tc.wantText != "" && (res.err == nil || !strings.Contains(res.err.Error(), tc.wantText)) {
				t.Fatalf("err = %v, want %q", res.err, tc.wantText)
			}
			if res.err != nil && strings.Contains(res.err.Error(), "dc-secret-123") {
				t.Fatal("device code in the error")
			}
			if fmt.Sprint(res.waits) != fmt.Sprint(tc.wantWaits) {
				t.Errorf("waits %v, want %v", res.waits, tc.wantWaits)
			}
		})
	}
}

func TestDeviceFlowStartErrors(t *testing.T) {
	t.Parallel()
	// A closed port: GitHub unreachable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	answer := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name, url, want string
		status          int
	}{
		{"unreachable", closed, "GitHub unreachable while starting the device login", 0},
		{"404 without device flow", answer(404, `{"message":"Not Found"}`), "GitHub answered 404 Not Found while starting the device login: Not Found", 404},
		{"OAuth error", answer(200, `{"error":"unauthorized_client","error_description":"bad client"}`), "GitHub refused the device login (unauthorized_client): bad client", 200},
		{"incomplete answer", answer(200, `{"device_code":"x"}`), "lacks device_code", 200},
		{"not JSON", answer(200, `hello`), "not JSON", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := (&copilot.DeviceFlow{GitHubURL: tc.url}).Start(t.Context())
			var de *copilot.DeviceError
			if !errors.As(err, &de) || de.Status != tc.status || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (%T), want a DeviceError with status %d containing %q", err, err, tc.status, tc.want)
			}
		})
	}
}
