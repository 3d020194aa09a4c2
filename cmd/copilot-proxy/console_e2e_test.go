package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

// screenshotDir is where the console end-to-end test writes its
// screenshots (gitignored), relative to this package.
const screenshotDir = "../../bench-results/console"

// chromiumPath finds Debian's chromium (or a Chrome). Without one the test
// skips, except when CI is set: there it fails (.ci/deps installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH (apt-get install chromium, or run .ci/deps)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, so this fails instead of skipping")
	}
	t.Skip(msg)
	return ""
}

// browserCtx starts a headless Chromium for the test.
func browserCtx(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// must runs browser steps or fails the test.
func must(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript condition until it holds. The bound is only a
// backstop for a broken page (a busy CI machine must not fail it): 60 s.
func waitJS(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !eval[bool](t, ctx, "!!("+cond+")") {
		if time.Now().After(deadline) {
			html := eval[string](t, ctx, "document.body ? document.body.innerText.slice(0, 1500) : ''")
			t.Fatalf("%s: not within 60s; page:\n%s", what, html)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shoot writes the page at desktop and phone width to screenshotDir.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		emulate := chromedp.EmulateViewport(v.w, v.h)
		if v.mobile {
			emulate = chromedp.EmulateViewport(v.w, v.h, chromedp.EmulateMobile, chromedp.EmulateScale(2))
		}
		must(t, ctx, "viewport", emulate, chromedp.Sleep(150*time.Millisecond))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(screenshotDir, name+"-"+v.suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must(t, ctx, "viewport", chromedp.EmulateViewport(1280, 900))
}

// TestConsoleEndToEnd drives the web console in a real headless Chromium
// against the real gateway (run, with the fake Copilot): the admin signs
// in, creates a key (its secret shown once), the key is used, its request
// shows on the usage page, the admin revokes it and it is refused; a key
// holder sees only their key; another site's form POST is refused.
func TestConsoleEndToEnd(t *testing.T) {
	chromium := chromiumPath(t)
	const admin = "console-admin-token-0123456789"
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, map[string]string{"COPILOT_PROXY_ADMIN_TOKEN": admin})
	ctx := browserCtx(t, chromium)

	// Sign in as the admin, through the no-JS form.
	must(t, ctx, "login page", chromedp.Navigate(g.URL+"/console/"), chromedp.WaitVisible(chromedp.ID("token")))
	shoot(t, ctx, "login")
	must(t, ctx, "sign in", chromedp.SendKeys(chromedp.ID("token"), admin), chromedp.Submit(chromedp.ID("signin-form")))
	waitJS(t, ctx, "keys page", `document.querySelector("#keys-table") && !document.querySelector("#create-form fieldset").disabled`)
	if stored := eval[string](t, ctx, "document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)"); strings.Contains(stored, admin) || strings.Contains(stored, "copilot_proxy_session") {
		t.Errorf("the browser's script-visible storage holds the token or the session: %q", stored)
	}

	// Create a key with every option; its secret is shown once.
	must(t, ctx, "create key",
		chromedp.SendKeys(chromedp.CSS(`#create-form [name=name]`), "e2e-alice"),
		chromedp.SendKeys(chromedp.CSS(`#create-form [name=rpm]`), "60"),
		chromedp.SendKeys(chromedp.CSS(`#create-form [name=tpm]`), "100000"),
		chromedp.SendKeys(chromedp.CSS(`#create-form [name=concurrency]`), "4"),
		chromedp.SendKeys(chromedp.CSS(`#create-form [name=expires]`), "30d"),
		chromedp.SendKeys(chromedp.CSS(`#create-form [name=budget_credits]`), "50"),
		chromedp.SetValue(chromedp.CSS(`#create-form [name=budget_period]`), "week"),
		chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("secret")))
	secret := eval[string](t, ctx, `document.querySelector("#secret-value").textContent`)
	if !strings.HasPrefix(secret, keys.SecretPrefix) {
		t.Fatalf("shown secret %q", secret)
	}
	waitJS(t, ctx, "new key listed", `document.querySelector('#keys-table tr[data-name="e2e-alice"]')`)
	shoot(t, ctx, "keys-secret-once")
	must(t, ctx, "hide secret", chromedp.Click(chromedp.ID("secret-done")), chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#keys-table tr[data-name="e2e-alice"]`)))
	if html := eval[string](t, ctx, "document.documentElement.outerHTML"); strings.Contains(html, secret[4:]) {
		t.Fatal("the secret is on the keys page again after a reload")
	}
	row := eval[string](t, ctx, `document.querySelector('#keys-table tr[data-name="e2e-alice"]').innerText`)
	for _, want := range []string{"active", "60 / 100,000 / 4", "50 / week"} {
		if !strings.Contains(row, want) {
			t.Errorf("key row %q lacks %q", row, want)
		}
	}

	// Use it; the request shows on the usage page.
	if resp := g.chat(t, "Authorization", "Bearer "+secret, "gpt-4o"); resp.StatusCode != http.StatusOK {
		t.Fatalf("chat with the new key: %d", resp.StatusCode)
	}
	must(t, ctx, "usage page", chromedp.Navigate(g.URL+"/console/usage?range=week&by=key"))
	waitJS(t, ctx, "request counted", `(() => { const r = [...document.querySelectorAll("#groups-table tbody tr")].find(tr => tr.cells[0].innerText === "e2e-alice");`+
		` if (!r) { setTimeout(() => location.reload(), 0); return false } return r.cells[1].innerText === "1" })()`)
	waitJS(t, ctx, "charts drawn", `document.querySelectorAll("#charts svg[role=img]").length === 4`)
	shoot(t, ctx, "usage")
	must(t, ctx, "usage by model", chromedp.Navigate(g.URL+"/console/usage?range=month&by=model"))
	waitJS(t, ctx, "charts by model", `document.querySelectorAll("#charts svg[role=img]").length === 4 && document.body.innerText.includes("gpt-4o")`)
	shoot(t, ctx, "usage-by-model")

	// The account page.
	must(t, ctx, "account page", chromedp.Navigate(g.URL+"/console/account"), chromedp.WaitVisible(chromedp.ID("cond-table")))
	if txt := eval[string](t, ctx, "document.body.innerText"); !strings.Contains(txt, "copilot_token") || !strings.Contains(txt, "key_store") {
		t.Errorf("account page lacks the conditions:\n%s", txt)
	}
	shoot(t, ctx, "account")

	// Revoke with confirmation; the key is refused from then on.
	must(t, ctx, "revoke", chromedp.Navigate(g.URL+"/console/keys"),
		chromedp.WaitVisible(chromedp.CSS(`#keys-table tr[data-name="e2e-alice"] button[data-act=revoke]`)),
		chromedp.Click(chromedp.CSS(`#keys-table tr[data-name="e2e-alice"] button[data-act=revoke]`)),
		chromedp.WaitVisible(chromedp.ID("revoke-dialog")))
	shoot(t, ctx, "keys-revoke-confirm")
	must(t, ctx, "confirm revoke", chromedp.Click(chromedp.CSS(`#revoke-dialog button[value=revoke]`)))
	waitJS(t, ctx, "revoked", `(document.querySelector('#keys-table tr[data-name="e2e-alice"] .badge')||{}).textContent === "revoked"`)
	if resp := g.chat(t, "Authorization", "Bearer "+secret, "gpt-4o"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("chat with the revoked key: %d", resp.StatusCode)
	}
	shoot(t, ctx, "keys")

	// Another site's form POST to the admin API is refused, and creates nothing.
	crossSite(t, ctx, g.URL, db)

	// Sign out; sign in as a key holder, who sees only their key.
	holder := createKey(t, db, "--name", "e2e-bob", "--models", "gpt-4o,gpt-4.1")
	if resp := g.chat(t, "Authorization", "Bearer "+holder.Key, "gpt-4o"); resp.StatusCode != http.StatusOK {
		t.Fatalf("chat as the holder: %d", resp.StatusCode)
	}
	must(t, ctx, "sign out", chromedp.Navigate(g.URL+"/console/keys"), chromedp.WaitVisible(chromedp.CSS(".signout button")),
		chromedp.Click(chromedp.CSS(".signout button")), chromedp.WaitVisible(chromedp.ID("token")))
	must(t, ctx, "key holder sign in", chromedp.SendKeys(chromedp.ID("token"), holder.Key), chromedp.Submit(chromedp.ID("signin-form")))
	waitJS(t, ctx, "me page", `location.pathname === "/console/me" && document.querySelectorAll("#charts svg[role=img]").length === 4`)
	txt := eval[string](t, ctx, "document.body.innerText")
	for _, want := range []string{"e2e-bob", holder.ID, "ANTHROPIC_BASE_URL=" + g.URL, `base_url = "` + g.URL + `/v1"`, "wire_api", "gpt-4o"} {
		if !strings.Contains(txt, want) {
			t.Errorf("me page lacks %q", want)
		}
	}
	if strings.Contains(txt, "e2e-alice") || strings.Contains(txt, holder.Key) {
		t.Error("the key holder's page shows another key or the secret")
	}
	shoot(t, ctx, "me")
	for path, want := range map[string]int{"/admin/keys": 403, "/admin/usage": 403, "/console/api/me": 200} {
		got := eval[int](t, ctx, `fetch("`+path+`", {credentials: "same-origin"}).then(r => r.status)`)
		if got != want {
			t.Errorf("key holder GET %s: %d, want %d", path, got, want)
		}
	}
	if got := eval[string](t, ctx, `fetch("/console/keys").then(r => r.url)`); !strings.HasSuffix(got, "/console/me") {
		t.Errorf("key holder on the keys page ended at %s", got)
	}
}

// crossSite signs the browser in as the admin, then opens a page of
// another site (localhost against the console's 127.0.0.1) that posts a
// form to the admin API: it must be refused and create no key.
func crossSite(t *testing.T, ctx context.Context, consoleURL, db string) {
	t.Helper()
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" enctype="text/plain" action="%s/admin/keys">`+
			`<input name='{"name":"evil","x":"' value='"}'></form><script>document.getElementById("f").submit()</script>`, consoleURL)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(evilURL))
	if err != nil {
		t.Fatalf("open the other site: %v", err)
	}
	_ = resp
	waitJS(t, ctx, "the form's answer", `location.href.endsWith("/admin/keys")`)
	body := eval[string](t, ctx, "document.body.innerText")
	if !strings.Contains(body, `"error"`) {
		t.Errorf("the cross-site POST was not refused: %s", body)
	}
	out := mustCLI(t, db, "keys", "list", "--json")
	if strings.Contains(out, `"evil"`) {
		t.Fatalf("a cross-site POST created a key: %s", out)
	}
}
