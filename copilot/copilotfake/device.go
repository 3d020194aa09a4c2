package copilotfake

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
)

// Defaults of the fake device flow.
const (
	DefaultUserCode        = "WDJB-MJHT"
	DefaultDeviceInterval  = 5   // seconds
	DefaultDeviceExpiresIn = 900 // seconds
	deviceGrantType        = "urn:ietf:params:oauth:grant-type:device_code"
)

// DeviceFlowConfig scripts the fake's GitHub device flow
// (POST /login/device/code, POST /login/oauth/access_token).
type DeviceFlowConfig struct {
	UserCode  string // default DefaultUserCode
	Interval  int    // seconds; default DefaultDeviceInterval
	ExpiresIn int    // seconds; default DefaultDeviceExpiresIn
	// Pending is how many authorization_pending answers come before the
	// final answer.
	Pending int
	// SlowDownAt lists poll numbers (1-based, counting every poll) that get
	// slow_down instead; they do not count as pending answers.
	SlowDownAt []int
	// Final is the last answer: "" an access token, or an OAuth error code
	// such as "expired_token" or "access_denied".
	Final string
	// AccessToken is the token handed out on success; default the GitHub
	// token the fake's exchange accepts, so login then exchange works.
	AccessToken string
}

// deviceState is the fake's device-flow state; it has its own lock so the
// device routes never contend with the Copilot routes.
type deviceState struct {
	mu         sync.Mutex
	cfg        DeviceFlowConfig
	deviceCode string // the code issued last; "" before Start
	interval   int    // current interval, raised by each slow_down
	polls      int
	pending    int // authorization_pending answers given
}

func (d *deviceState) reset(cfg DeviceFlowConfig) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cfg, d.deviceCode, d.interval, d.polls, d.pending = cfg, "", 0, 0, 0
}

// deviceRoutes adds the device-flow routes to the fake's mux.
func (s *Server) deviceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /login/device/code", s.handleDeviceCode)
	mux.HandleFunc("POST /login/oauth/access_token", s.handleDeviceToken)
}

// SetDeviceFlow scripts the device flow and restarts it: the poll count
// and any issued device code are cleared.
func (s *Server) SetDeviceFlow(cfg DeviceFlowConfig) {
	cfg.SlowDownAt = slices.Clone(cfg.SlowDownAt)
	s.device.reset(cfg)
}

// DevicePolls is the number of POST /login/oauth/access_token requests
// received since the device flow was last set or reset.
func (s *Server) DevicePolls() int {
	s.device.mu.Lock()
	defer s.device.mu.Unlock()
	return s.device.polls
}

// deviceForm reads a device-flow body: JSON, or a form as OAuth clients
// usually send.
func deviceForm(r *http.Request) map[string]string {
	out := map[string]string{}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err == nil {
			for k := range r.PostForm {
				out[k] = r.PostForm.Get(k)
			}
		}
		return out
	}
	_ = json.NewDecoder(r.Body).Decode(&out)
	return out
}

// writeOAuth answers like GitHub: JSON when asked for it, otherwise form
// encoding; status 200 even for OAuth errors.
func writeOAuth(w http.ResponseWriter, r *http.Request, status int, fields map[string]any) {
	if r.Header.Get("Accept") == "application/json" {
		b, _ := json.Marshal(fields)
		writeBody(w, status, "application/json; charset=utf-8", string(b))
		return
	}
	v := url.Values{}
	for k, f := range fields {
		switch f := f.(type) {
		case string:
			v.Set(k, f)
		case int:
			v.Set(k, strconv.Itoa(f))
		}
	}
	writeBody(w, status, "application/x-www-form-urlencoded; charset=utf-8", v.Encode())
}

func oauthError(code, desc string) map[string]any {
	return map[string]any{"error": code, "error_description": desc, "error_uri": "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow"}
}

func (s *Server) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	form := deviceForm(r)
	if form["client_id"] == "" {
		writeOAuth(w, r, http.StatusBadRequest, oauthError("unauthorized_client", "The client_id is missing."))
		return
	}
	d := &s.device
	d.mu.Lock()
	d.deviceCode = "fakedevice" + randomHex(16)
	d.interval = orInt(d.cfg.Interval, DefaultDeviceInterval)
	d.polls, d.pending = 0, 0
	resp := map[string]any{
		"device_code":      d.deviceCode,
		"user_code":        orStr(d.cfg.UserCode, DefaultUserCode),
		"verification_uri": s.URL() + "/login/device",
		"expires_in":       orInt(d.cfg.ExpiresIn, DefaultDeviceExpiresIn),
		"interval":         d.interval,
	}
	d.mu.Unlock()
	writeOAuth(w, r, http.StatusOK, resp)
}

func (s *Server) handleDeviceToken(w http.ResponseWriter, r *http.Request) {
	form := deviceForm(r)
	d := &s.device
	d.mu.Lock()
	d.polls++
	n := d.polls
	var ans map[string]any
	switch {
	case form["grant_type"] != deviceGrantType:
		ans = oauthError("unsupported_grant_type", "The grant type is not supported.")
	case form["client_id"] == "":
		ans = oauthError("incorrect_client_credentials", "The client_id is not valid.")
	case d.deviceCode == "" || form["device_code"] != d.deviceCode:
		ans = oauthError("incorrect_device_code", "The device_code provided is not valid.")
	case slices.Contains(d.cfg.SlowDownAt, n):
		d.interval += 5
		ans = oauthError("slow_down", "Too many requests have been made in the same amount of time.")
		ans["interval"] = d.interval
	case d.pending < d.cfg.Pending:
		d.pending++
		ans = oauthError("authorization_pending", "The authorization request is still pending.")
	case d.cfg.Final == "":
		tok := d.cfg.AccessToken
		if tok == "" {
			s.mu.Lock()
			tok = s.set.githubToken
			s.mu.Unlock()
		}
		ans = map[string]any{"access_token": tok, "token_type": "bearer", "scope": "read:user"}
	case d.cfg.Final == "expired_token":
		ans = oauthError("expired_token", "The device_code has expired.")
	case d.cfg.Final == "access_denied":
		ans = oauthError("access_denied", "The authorization request was denied.")
	default:
		ans = oauthError(d.cfg.Final, "fake device flow error "+d.cfg.Final)
	}
	d.mu.Unlock()
	writeOAuth(w, r, http.StatusOK, ans)
}

func orInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func orStr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
