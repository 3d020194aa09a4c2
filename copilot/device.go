package copilot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Device flow defaults: the OAuth app of the Copilot editor plugins, whose
// tokens the Copilot token exchange accepts (UPSTREAM.md §5).
const (
	DefaultClientID    = "Iv1.b507a08c87ecfe98"
	DefaultGitHubURL   = "https://github.com"
	DefaultDeviceScope = "read:user"
)

// DeviceGrantType is the grant_type of the device-flow token request (RFC 8628).
const DeviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// Defaults applied when GitHub's answer omits or garbles a field.
const (
	defaultPollInterval = 5 * time.Second
	defaultCodeLifetime = 15 * time.Minute
	slowDownStep        = 5 * time.Second // RFC 8628 §3.5
	maxDeviceBody       = 1 << 20
	// maxTransientPolls is how many polls in a row may fail with a network
	// error or a 5xx before Poll gives up: a blip must not end a login the
	// user is completing, a dead network must not keep it waiting 15 min.
	maxTransientPolls = 3
)

// ErrDeviceExpired ends Poll when the user code expired before it was
// entered (GitHub's expired_token, or ExpiresIn elapsed by the clock).
var ErrDeviceExpired = errors.New("the code expired before it was entered; run login again")

// ErrAccessDenied ends Poll when the user pressed Cancel on GitHub's page.
var ErrAccessDenied = errors.New("authorization was denied in the browser")

// DeviceFlow runs GitHub's OAuth device flow, which yields a GitHub OAuth
// token without a browser on this machine: the user enters a short code on
// GitHub from any device. The zero value works against github.com.
type DeviceFlow struct {
	// HTTPClient sends the requests; nil means a client with a 60 s timeout
	// (no call of the flow streams).
	HTTPClient *http.Client
	// GitHubURL is the web host, not the API: https://github.com by default,
	// https://HOST for GitHub Enterprise Server.
	GitHubURL string
	// ClientID is the OAuth app; default DefaultClientID.
	ClientID string
	// Scope is the OAuth scope asked for; default "read:user".
	Scope string
	// Clock times the waits between polls and the code's lifetime; nil means
	// the system clock.
	Clock Clock
}

// DeviceCode is GitHub's answer to the start of the flow. DeviceCode is a
// credential for the duration of the flow: String and GoString leave it out.
type DeviceCode struct {
	DeviceCode      string        // secret: whoever holds it can collect the token
	UserCode        string        // what the user types on VerificationURI, e.g. "WDJB-MJHT"
	VerificationURI string        // e.g. https://github.com/login/device
	ExpiresIn       time.Duration // lifetime of the codes
	Interval        time.Duration // minimum wait between polls

	issued time.Time // by the flow's clock; Poll counts ExpiresIn from it
}

// String describes the code without the device code.
func (c DeviceCode) String() string {
	return fmt.Sprintf("device code [redacted] (user_code=%q verification_uri=%q expires_in=%s interval=%s)",
		c.UserCode, c.VerificationURI, c.ExpiresIn, c.Interval)
}

// GoString keeps %#v from printing the device code.
func (c DeviceCode) GoString() string { return "copilot.DeviceCode{" + c.String() + "}" }

// DeviceError is a failure of the device flow other than ErrDeviceExpired,
// ErrAccessDenied and context cancellation: GitHub unreachable, an HTTP
// error, or an OAuth error such as incorrect_client_credentials. Its text
// never contains the device code or a token.
type DeviceError struct {
	Op          string // "start" or "poll"
	Status      int    // HTTP status; 0 for network errors
	Code        string // OAuth error code ("" when none)
	Description string // GitHub's error_description or message
	Err         error  // underlying network error, if any
}

// Error returns one line a person understands.
func (e *DeviceError) Error() string {
	what := "starting the device login"
	if e.Op == "poll" {
		what = "waiting for the device login"
	}
	switch {
	case e.Status == 0 && e.Err != nil:
		return fmt.Sprintf("GitHub unreachable while %s: %v", what, e.Err)
	case e.Code != "":
		s := fmt.Sprintf("GitHub refused the device login (%s)", e.Code)
		if e.Description != "" {
			s += ": " + e.Description
		}
		return s
	default:
		s := fmt.Sprintf("GitHub answered %d %s while %s", e.Status, http.StatusText(e.Status), what)
		if e.Description != "" {
			s += ": " + e.Description
		}
		return s
	}
}

// Unwrap returns the underlying network error.
func (e *DeviceError) Unwrap() error { return e.Err }

// transient reports whether polling again may help.
func (e *DeviceError) transient() bool {
	return e.Code == "" && (e.Status == 0 || e.Status >= 500 || e.Status == http.StatusTooManyRequests)
}

// client is the HTTP client of the flow; it never follows a redirect (the
// poll carries the device code, a credential).
func (d *DeviceFlow) client() *http.Client {
	return noRedirects(d.HTTPClient, time.Minute)
}

func (d *DeviceFlow) clock() Clock {
	if d.Clock != nil {
		return d.Clock
	}
	return SystemClock()
}

func (d *DeviceFlow) clientID() string {
	if d.ClientID != "" {
		return d.ClientID
	}
	return DefaultClientID
}

func (d *DeviceFlow) endpoint(path string) string {
	base := d.GitHubURL
	if base == "" {
		base = DefaultGitHubURL
	}
	return strings.TrimRight(base, "/") + path
}

// deviceAnswer is the union of GitHub's device-flow answers. Numbers are
// float64: the API could send 5 or 5.0.
type deviceAnswer struct {
	DeviceCode       string  `json:"device_code"`
	UserCode         string  `json:"user_code"`
	VerificationURI  string  `json:"verification_uri"`
	ExpiresIn        float64 `json:"expires_in"`
	Interval         float64 `json:"interval"`
	AccessToken      string  `json:"access_token"`
	Error            string  `json:"error"`
	ErrorDescription string  `json:"error_description"`
	Message          string  `json:"message"` // REST-style errors (e.g. 404 on GHES without device flow)
}

// Start asks GitHub for a device code and a user code.
func (d *DeviceFlow) Start(ctx context.Context) (*DeviceCode, error) {
	scope := d.Scope
	if scope == "" {
		scope = DefaultDeviceScope
	}
	ans, err := d.post(ctx, "start", "/login/device/code", map[string]string{
		"client_id": d.clientID(),
		"scope":     scope,
	}, "")
	if err != nil {
		return nil, err
	}
	if ans.Error != "" {
		return nil, &DeviceError{Op: "start", Status: http.StatusOK, Code: clean(ans.Error, ""), Description: clean(ans.ErrorDescription, "")}
	}
	if ans.DeviceCode == "" || ans.UserCode == "" || ans.VerificationURI == "" {
		return nil, &DeviceError{Op: "start", Status: http.StatusOK, Description: "the answer lacks device_code, user_code or verification_uri"}
	}
	return &DeviceCode{
		DeviceCode:      ans.DeviceCode,
		UserCode:        ans.UserCode,
		VerificationURI: ans.VerificationURI,
		ExpiresIn:       seconds(ans.ExpiresIn, defaultCodeLifetime),
		Interval:        seconds(ans.Interval, defaultPollInterval),
		issued:          d.clock().Now(),
	}, nil
}

// Poll waits until the user has entered the code and returns the GitHub
// OAuth token. It waits dc.Interval before every request (longer after a
// slow_down) and calls onWait, if not nil, before each wait with the number
// of the poll about to be made (from 1) and the wait. It ends with
// ErrDeviceExpired, ErrAccessDenied, ctx.Err() on cancellation, or a
// *DeviceError.
func (d *DeviceFlow) Poll(ctx context.Context, dc *DeviceCode, onWait func(attempt int, interval time.Duration)) (string, error) {
	clock := d.clock()
	issued := dc.issued
	if issued.IsZero() {
		issued = clock.Now()
	}
	lifetime := dc.ExpiresIn
	if lifetime <= 0 {
		lifetime = defaultCodeLifetime
	}
	deadline := issued.Add(lifetime)
	interval := dc.Interval
	if interval <= 0 {
		interval = defaultPollInterval
	}
	form := map[string]string{
		"client_id":   d.clientID(),
		"device_code": dc.DeviceCode,
		"grant_type":  DeviceGrantType,
	}

	failures := 0
	for attempt := 1; ; attempt++ {
		if onWait != nil {
			onWait(attempt, interval)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-clock.After(interval):
		}
		if !clock.Now().Before(deadline) {
			return "", ErrDeviceExpired
		}

		ans, err := d.post(ctx, "poll", "/login/oauth/access_token", form, dc.DeviceCode)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if err != nil {
			var de *DeviceError
			if errors.As(err, &de) && de.transient() && failures+1 < maxTransientPolls {
				failures++
				continue
			}
			return "", err
		}
		failures = 0

		switch ans.Error {
		case "":
			if ans.AccessToken != "" {
				return ans.AccessToken, nil
			}
			return "", &DeviceError{Op: "poll", Status: http.StatusOK, Description: "the answer has neither access_token nor error"}
		case "authorization_pending":
		case "slow_down":
			// GitHub sends the new interval; never go below the RFC's +5 s.
			interval = max(interval+slowDownStep, seconds(ans.Interval, 0))
		case "expired_token":
			return "", ErrDeviceExpired
		case "access_denied":
			return "", ErrAccessDenied
		default:
			return "", &DeviceError{Op: "poll", Status: http.StatusOK,
				Code: clean(ans.Error, dc.DeviceCode), Description: clean(ans.ErrorDescription, dc.DeviceCode)}
		}
	}
}

// post sends a JSON body asking for a JSON answer and decodes it. secret is
// removed from any text that goes into an error.
func (d *DeviceFlow) post(ctx context.Context, op, path string, body map[string]string, secret string) (*deviceAnswer, error) {
	b, _ := json.Marshal(body) // a map of strings always marshals
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint(path), bytes.NewReader(b))
	if err != nil {
		return nil, &DeviceError{Op: op, Description: "bad GitHub URL", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", DefaultUserAgent)

	resp, err := d.client().Do(req)
	if re, ok := redirectOf(err); ok {
		return nil, &DeviceError{Op: op, Status: re.Status, Description: "GitHub answered with a redirect, which is not followed (check --github-url)", Err: re}
	}
	if err != nil {
		// The URL and the network error hold no secret: the device code
		// travels in the body.
		return nil, &DeviceError{Op: op, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxDeviceBody))
	if err != nil {
		return nil, &DeviceError{Op: op, Err: err}
	}
	ans, perr := parseDeviceAnswer(resp.Header.Get("Content-Type"), raw)
	if resp.StatusCode != http.StatusOK {
		e := &DeviceError{Op: op, Status: resp.StatusCode}
		if perr == nil {
			e.Code = clean(ans.Error, secret)
			e.Description = clean(firstNonEmpty(ans.ErrorDescription, ans.Message), secret)
		}
		return nil, e
	}
	if perr != nil {
		return nil, &DeviceError{Op: op, Status: resp.StatusCode, Description: perr.Error()}
	}
	return ans, nil
}

// parseDeviceAnswer decodes JSON, or the form encoding GitHub uses when it
// ignores Accept.
func parseDeviceAnswer(contentType string, raw []byte) (*deviceAnswer, error) {
	var ans deviceAnswer
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" {
		v, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, errors.New("the answer is not valid form data")
		}
		num := func(k string) float64 { f, _ := strconv.ParseFloat(v.Get(k), 64); return f }
		ans = deviceAnswer{
			DeviceCode: v.Get("device_code"), UserCode: v.Get("user_code"), VerificationURI: v.Get("verification_uri"),
			ExpiresIn: num("expires_in"), Interval: num("interval"), AccessToken: v.Get("access_token"),
			Error: v.Get("error"), ErrorDescription: v.Get("error_description"),
		}
		return &ans, nil
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, errors.New("the answer is not JSON")
	}
	return &ans, nil
}

// seconds converts a seconds count from GitHub, falling back to def for a
// missing, negative or absurd (over a day) value.
func seconds(s float64, def time.Duration) time.Duration {
	if s <= 0 || s > 86400 {
		return def
	}
	return time.Duration(s * float64(time.Second))
}

// clean makes text from GitHub safe for one error line: whitespace folded,
// length bounded, secret removed.
func clean(s, secret string) string {
	s = strings.Join(strings.Fields(s), " ")
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…" // a split last rune is dropped
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
