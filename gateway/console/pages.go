package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// pageNames are the console's pages, each assets/<name>.html rendered in
// assets/layout.html.
var pageNames = []string{"login", "keys", "usage", "account", "me"}

// page is what a page template gets.
type page struct {
	Title  string
	Nav    string // the active navigation entry
	Role   string // "" when signed out
	CSRF   string
	Error  string
	Now    time.Time
	Keys   []keys.KeyWithUsage
	Usage  *usageView
	Acct   *accountView
	Me     *meView
	Script bool // whether the page loads console.js (all but sign-in)
}

// parsePages parses every page with the layout and the helper functions.
func parsePages(assetURL func(string) string) map[string]*template.Template {
	funcs := template.FuncMap{"asset": assetURL}
	for k, v := range viewFuncs() {
		funcs[k] = v
	}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assetsFS, "assets/layout.html"))
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(assetsFS, "assets/"+name+".html"))
	}
	return pages
}

// render writes a page, buffered so that a template error is a clean 500.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Nav, p.Now, p.Script = name, c.cfg.Now().UTC(), name != "login"
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		middleware.LoggerFrom(r.Context()).Error().Err(err).Str("page", name).Msg("console: page template failed")
		middleware.WriteError(w, r, api.NewError(api.CodeInternal, "the console page could not be rendered"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageSession is the session a page needs: role "" for any, else that
// role. Without a session it redirects to the sign-in page; a session of
// the other role goes to its own home page. A store failure is a 500, not
// a redirect: an outage must not look like being signed out.
func (c *Console) pageSession(w http.ResponseWriter, r *http.Request, role string) (keys.Session, bool) {
	s, _, err := c.session(r)
	switch {
	case errors.Is(err, keys.ErrNoSession):
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return s, false
	case err != nil:
		c.storeFailed(w, r, err)
		return s, false
	case role != "" && s.Role != role:
		http.Redirect(w, r, home(s.Role), http.StatusSeeOther)
		return s, false
	}
	return s, true
}

// home is a role's first page.
func home(role string) string {
	if role == keys.RoleAdmin {
		return "/console/keys"
	}
	return "/console/me"
}

// Home serves GET /console/: the signed-in role's first page, or sign-in.
func (c *Console) Home(w http.ResponseWriter, r *http.Request) {
	if s, ok := c.pageSession(w, r, ""); ok {
		http.Redirect(w, r, home(s.Role), http.StatusSeeOther)
	}
}

// Login serves GET /console/login: the sign-in form (it works without
// JavaScript), or the home page when already signed in.
func (c *Console) Login(w http.ResponseWriter, r *http.Request) {
	if s, _, err := c.session(r); err == nil {
		http.Redirect(w, r, home(s.Role), http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "login", page{Title: "Sign in"})
}

// KeysPage serves GET /console/keys (admin): every key with its status,
// limits, budget, spend this period and last use; create, update, rotate
// and revoke (with JavaScript, through the admin API).
func (c *Console) KeysPage(w http.ResponseWriter, r *http.Request) {
	s, ok := c.pageSession(w, r, keys.RoleAdmin)
	if !ok {
		return
	}
	list, err := c.cfg.Store.List(r.Context(), c.cfg.QuotaReset()) // as GET /admin/keys
	if err != nil {
		c.storeFailed(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "keys", page{Title: "Keys", Role: s.Role, CSRF: s.CSRF, Keys: list})
}

// UsagePage serves GET /console/usage?range=day|week|month&by=key|model
// (admin): usage over the range, as tables here and as charts with
// JavaScript.
func (c *Console) UsagePage(w http.ResponseWriter, r *http.Request) {
	s, ok := c.pageSession(w, r, keys.RoleAdmin)
	if !ok {
		return
	}
	rg, by := pickRange(r.URL.Query().Get("range")), pickBy(r.URL.Query().Get("by"))
	since, _ := keys.ParseSince(rg.since, c.cfg.Now()) // as GET /admin/usage?since=
	rows, err := c.cfg.Store.Usage(r.Context(), keys.UsageQuery{Since: startOfDay(since)})
	if err != nil {
		c.storeFailed(w, r, err)
		return
	}
	v := newUsageView(rows, rg, by)
	c.render(w, r, http.StatusOK, "usage", page{Title: "Usage", Role: s.Role, CSRF: s.CSRF, Usage: &v})
}

// AccountPage serves GET /console/account (admin): the Copilot token's
// health and expiry, the plan, the quota with its reset date and the
// readiness conditions, from the JSON of GET /admin/account.
func (c *Console) AccountPage(w http.ResponseWriter, r *http.Request) {
	s, ok := c.pageSession(w, r, keys.RoleAdmin)
	if !ok {
		return
	}
	var v accountView
	if c.cfg.Account != nil {
		b, err := c.cfg.Account(r.Context())
		if err == nil {
			err = json.Unmarshal(b, &v)
		}
		if err != nil {
			c.storeFailed(w, r, err)
			return
		}
	}
	v.sortQuotas()
	c.render(w, r, http.StatusOK, "account", page{Title: "Account", Role: s.Role, CSRF: s.CSRF, Acct: &v})
}

// MePage serves GET /console/me (key holder): their limits, budget and
// spend, usage by model and day, and how to point tools at the gateway.
func (c *Console) MePage(w http.ResponseWriter, r *http.Request) {
	s, ok := c.pageSession(w, r, keys.RoleKey)
	if !ok {
		return
	}
	me, err := c.me(r, s.KeyID)
	if err != nil {
		c.storeFailed(w, r, err)
		return
	}
	v := newMeView(me)
	c.render(w, r, http.StatusOK, "me", page{Title: "My key", Role: s.Role, CSRF: s.CSRF, Me: &v})
}

// storeFailed answers a page whose data could not be read.
func (c *Console) storeFailed(w http.ResponseWriter, r *http.Request, err error) {
	middleware.LoggerFrom(r.Context()).Error().Err(err).Msg("console: cannot read the page's data")
	middleware.WriteError(w, r, api.NewError(api.CodeInternal, "the console could not read its data; see the gateway log"))
}

// sortedNames returns m's keys in order.
func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
