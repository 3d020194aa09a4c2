package copilotfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// devicePost posts a JSON body asking for JSON and decodes the answer.
func devicePost(t *testing.T, s *Server, path string, body map[string]string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: answer is not JSON: %v", path, err)
	}
	return resp.StatusCode, out
}

// deviceStart starts the device flow and checks the answer (userCode ""
// → DefaultUserCode).
func deviceStart(t *testing.T, s *Server, userCode string) map[string]any {
	t.Helper()
	st, code := devicePost(t, s, "/login/device/code", map[string]string{"client_id": "Iv1.test", "scope": "read:user"})
	if dc, _ := code["device_code"].(string); st != 200 || dc == "" || code["verification_uri"] != s.URL()+"/login/device" {
		t.Fatalf("start: %d %v", st, code)
	}
	if userCode == "" {
		userCode = DefaultUserCode
	}
	if code["user_code"] != userCode || code["interval"] != float64(DefaultDeviceInterval) || code["expires_in"] != float64(DefaultDeviceExpiresIn) {
		t.Fatalf("start answer: %v", code)
	}
	return code
}

func TestDeviceFlowScript(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   DeviceFlowConfig
		want  []string // "error" value per poll; "token" for success
		token string
	}{
		{name: "defaults: immediate success", want: []string{"token"}, token: GitHubToken},
		{name: "pending then success", cfg: DeviceFlowConfig{Pending: 2, AccessToken: "gho_custom"},
			want: []string{"authorization_pending", "authorization_pending", "token", "token"}, token: "gho_custom"},
		{name: "slow down does not count as pending", cfg: DeviceFlowConfig{Pending: 1, SlowDownAt: []int{1, 3}},
			want: []string{"slow_down", "authorization_pending", "slow_down", "token"}, token: GitHubToken},
		{name: "expired", cfg: DeviceFlowConfig{Pending: 1, Final: "expired_token"},
			want: []string{"authorization_pending", "expired_token", "expired_token"}},
		{name: "denied", cfg: DeviceFlowConfig{Final: "access_denied"}, want: []string{"access_denied"}},
		{name: "other error", cfg: DeviceFlowConfig{Final: "device_flow_disabled"}, want: []string{"device_flow_disabled"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			s.SetDeviceFlow(tc.cfg)
			code := deviceStart(t, s, tc.cfg.UserCode)
			interval := float64(DefaultDeviceInterval)
			for i, want := range tc.want {
				_, ans := devicePost(t, s, "/login/oauth/access_token", map[string]string{
					"client_id": "Iv1.test", "device_code": code["device_code"].(string), "grant_type": deviceGrantType,
				})
				got, _ := ans["error"].(string)
				if got == "" && ans["access_token"] != nil {
					got = "token"
					if ans["access_token"] != tc.token {
						t.Errorf("poll %d: access_token %v, want %q", i+1, ans["access_token"], tc.token)
					}
				}
				if got != want {
					t.Fatalf("poll %d: got %v, want %s", i+1, ans, want)
				}
				if want == "slow_down" {
					interval += 5
					if ans["interval"] != interval {
						t.Errorf("slow_down interval = %v, want %v", ans["interval"], interval)
					}
				}
			}
			if s.DevicePolls() != len(tc.want) {
				t.Errorf("DevicePolls = %d, want %d", s.DevicePolls(), len(tc.want))
			}
		})
	}
}

func TestDeviceFlowRejectsBadPolls(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.SetDeviceFlow(DeviceFlowConfig{UserCode: "ABCD-EFGH", Interval: 1, ExpiresIn: 60})
	poll := func(body map[string]string) string {
		_, ans := devicePost(t, s, "/login/oauth/access_token", body)
		e, _ := ans["error"].(string)
		return e
	}
	if e := poll(map[string]string{"client_id": "x", "device_code": "none", "grant_type": deviceGrantType}); e != "incorrect_device_code" {
		t.Errorf("poll before start: %q", e)
	}
	_, code := devicePost(t, s, "/login/device/code", map[string]string{"client_id": "x"})
	if code["user_code"] != "ABCD-EFGH" || code["interval"] != 1.0 || code["expires_in"] != 60.0 {
		t.Fatalf("configured start answer: %v", code)
	}
	dc := code["device_code"].(string)
	for _, tc := range []struct {
		body map[string]string
		want string
	}{
		{map[string]string{"client_id": "x", "device_code": dc, "grant_type": "password"}, "unsupported_grant_type"},
		{map[string]string{"device_code": dc, "grant_type": deviceGrantType}, "incorrect_client_credentials"},
		{map[string]string{"client_id": "x", "device_code": "wrong", "grant_type": deviceGrantType}, "incorrect_device_code"},
	} {
		if e := poll(tc.body); e != tc.want {
			t.Errorf("%v: got %q, want %q", tc.body, e, tc.want)
		}
	}
	if st, ans := devicePost(t, s, "/login/device/code", map[string]string{}); st != http.StatusBadRequest || ans["error"] != "unauthorized_client" {
		t.Errorf("start without client_id: %d %v", st, ans)
	}
	// Reset restores the default script: the default user code, and an
	// immediate token for a new device code.
	s.Reset()
	if s.DevicePolls() != 0 {
		t.Error("Reset kept the poll count")
	}
	_, code = devicePost(t, s, "/login/device/code", map[string]string{"client_id": "x"})
	if code["user_code"] != DefaultUserCode || code["interval"] != float64(DefaultDeviceInterval) {
		t.Errorf("start answer after Reset: %v", code)
	}
	dc, _ = code["device_code"].(string)
	_, ans := devicePost(t, s, "/login/oauth/access_token", map[string]string{"client_id": "x", "device_code": dc, "grant_type": deviceGrantType})
	if ans["access_token"] != GitHubToken {
		t.Errorf("first poll after Reset: %v, want the default token", ans)
	}
}

func TestDeviceFlowFormEncoding(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	// Without Accept: application/json GitHub answers form-encoded; a form
	// body is accepted too.
	resp, err := s.Client().PostForm(s.URL()+"/login/device/code", url.Values{"client_id": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		t.Fatalf("content type %q", ct)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	v, err := url.ParseQuery(string(b))
	if err != nil || v.Get("device_code") == "" || v.Get("interval") != "5" {
		t.Fatalf("form answer %q: %v", b, err)
	}
}
