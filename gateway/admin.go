package gateway

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// maxAdminBody bounds an admin request body; they are a few fields.
const maxAdminBody = 64 << 10

// adminAuth admits only requests carrying the admin token as a bearer
// token, or (cookie not nil) the web console's admin session cookie. Both
// sides of the token are hashed first so the comparison is constant-time
// whatever the lengths; a client key is just another wrong token here.
// Failed attempts are throttled per client address by gate, as client keys
// are (see middleware.Auth), with the same default limit and window.
//
// cookie reports whether a request carries a console session cookie and,
// if so, its refusal (nil: an admin session, and for a change the right
// CSRF token from this site). A cookie naming no live session counts as a
// failed attempt; a refused change (403) does not, it is no guess.
func adminAuth(token string, gate *middleware.FailureGate, cookie func(*http.Request) (bool, *api.Error)) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hasBearer(r, want) {
				next.ServeHTTP(w, r)
				return
			}
			e, counted := cookieRefusal(r, cookie)
			switch {
			case e == nil:
				next.ServeHTTP(w, r)
			case counted:
				w.Header().Set("WWW-Authenticate", `Bearer realm="copilot-proxy admin"`)
				gate.Refuse(w, r, e, "admin token")
			default:
				middleware.WriteError(w, r, e)
			}
		})
	}
}

// hasBearer reports whether r's Authorization is "Bearer <the token whose
// SHA-256 is want>", compared in constant time.
func hasBearer(r *http.Request, want [sha256.Size]byte) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// cookieRefusal decides a request without the admin bearer token: nil
// admits it (an admin session cookie, see adminAuth), and counted says
// whether the refusal is a failed attempt for the gate. A request with an
// Authorization header or without a session cookie is a wrong token.
func cookieRefusal(r *http.Request, cookie func(*http.Request) (bool, *api.Error)) (e *api.Error, counted bool) {
	if cookie != nil && r.Header.Get("Authorization") == "" {
		if present, e := cookie(r); present {
			return e, e != nil && e.Code == api.CodeInvalidAPIKey
		}
	}
	return api.NewError(api.CodeInvalidAPIKey, "Invalid admin token. Send the admin token as 'Authorization: Bearer <token>'."), true
}

// quotaReset is the account's next quota reset date, zero when unknown.
func quotaReset(reset func() time.Time) time.Time {
	if reset == nil {
		return time.Time{}
	}
	return reset()
}

// createKeyRequest is the body of POST /admin/keys: the CLI's flags as JSON.
type createKeyRequest struct {
	Name        string     `json:"name"`
	RPM         *int       `json:"rpm"`
	TPM         *int       `json:"tpm"`
	Concurrency *int       `json:"concurrency"`
	Models      []string   `json:"models"`
	Expires     string     `json:"expires"`    // "30d" or "2027-01-31", as the CLI's --expires
	ExpiresAt   *time.Time `json:"expires_at"` // or an exact RFC 3339 time
	// Budget is a number of credits (null: none), BudgetPeriod "day",
	// "week" or "month" (the default). Raw, so that a bad value is a 400
	// naming the field rather than a JSON error.
	Budget       json.RawMessage `json:"budget_credits"`
	BudgetPeriod json.RawMessage `json:"budget_period"`
}

// updateKeyRequest is the body of PATCH /admin/keys/{id}: a member that is
// present changes its setting, null clears it (a limit back to the server
// default, all models, no budget, no expiry), an absent one keeps it. Each
// is raw so that absent (nil) and null ("null") differ.
type updateKeyRequest struct {
	RPM          json.RawMessage `json:"rpm"`
	TPM          json.RawMessage `json:"tpm"`
	Concurrency  json.RawMessage `json:"concurrency"`
	Models       json.RawMessage `json:"models"`
	Budget       json.RawMessage `json:"budget_credits"`
	BudgetPeriod json.RawMessage `json:"budget_period"`
	Expires      json.RawMessage `json:"expires"`    // as createKeyRequest's
	ExpiresAt    json.RawMessage `json:"expires_at"` // or an exact RFC 3339 time
}

// rotateKeyRequest is the optional body of POST /admin/keys/{id}/rotate.
type rotateKeyRequest struct {
	Grace *string `json:"grace"` // Go duration; default 24h, "0s" cuts the old secret off
}

// defaultGrace is how long a rotated-out secret keeps working, as the CLI.
const defaultGrace = 24 * time.Hour

func handleAdminListKeys(store *keys.Store, reset func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		list, err := store.List(r.Context(), quotaReset(reset))
		if err != nil {
			keyStoreError(w, r, err)
			return
		}
		if list == nil {
			list = []keys.KeyWithUsage{}
		}
		middleware.WriteJSON(w, r, http.StatusOK, list)
	}
}

func handleAdminCreateKey(store *keys.Store, now func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req createKeyRequest
		if !decodeAdminBody(w, r, &req, true) {
			return
		}
		p, e := req.params(now())
		if e != nil {
			middleware.WriteError(w, r, e)
			return
		}
		created, err := store.Create(r.Context(), p)
		if err != nil {
			keyStoreError(w, r, err)
			return
		}
		middleware.WriteJSON(w, r, http.StatusCreated, created)
	}
}

// params checks the request's values and makes them CreateParams; the
// store checks the rest (name, ranges, models, expiry in the future).
func (req createKeyRequest) params(now time.Time) (keys.CreateParams, *api.Error) {
	// Two ways to say one thing: refuse rather than let one win silently.
	if req.Expires != "" && req.ExpiresAt != nil {
		return keys.CreateParams{}, bothExpiries()
	}
	p := keys.CreateParams{Name: req.Name, RPM: req.RPM, TPM: req.TPM, Concurrency: req.Concurrency, Models: req.Models, ExpiresAt: req.ExpiresAt}
	if req.Expires != "" {
		at, err := keys.ParseExpiry(req.Expires, now)
		if err != nil {
			return p, invalidParam("expires", err)
		}
		p.ExpiresAt = &at
	}
	budget, e := change(req.Budget, "budget_credits", parseBudget)
	if e != nil {
		return p, e
	}
	period, e := change(req.BudgetPeriod, "budget_period", parsePeriod)
	if e != nil {
		return p, e
	}
	if period.Value != nil && budget.Value == nil {
		return p, api.NewError(api.CodeInvalidRequest, "budget_period needs budget_credits").WithParam("budget_period")
	}
	p.Budget = budget.Value
	if period.Value != nil {
		p.BudgetPeriod = *period.Value
	}
	return p, nil
}

// handleAdminUpdateKey changes the settings a PATCH body names (see
// updateKeyRequest) and answers the key as it now is. The change holds for
// the key's next request: the store reloads its cache as it commits.
func handleAdminUpdateKey(store *keys.Store, now func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req updateKeyRequest
		if !decodeAdminBody(w, r, &req, true) {
			return
		}
		p, e := req.params(now())
		if e != nil {
			middleware.WriteError(w, r, e)
			return
		}
		k, err := store.Update(r.Context(), chi.URLParam(r, "id"), p)
		if err != nil {
			keyStoreError(w, r, err)
			return
		}
		middleware.WriteJSON(w, r, http.StatusOK, k)
	}
}

// params reads the members of a PATCH body into UpdateParams, refusing the
// first malformed one (in field order) with a 400 naming it.
func (req updateKeyRequest) params(now time.Time) (keys.UpdateParams, *api.Error) {
	var p keys.UpdateParams
	var errs [7]*api.Error
	p.RPM, errs[0] = change(req.RPM, "rpm", parseLimit)
	p.TPM, errs[1] = change(req.TPM, "tpm", parseLimit)
	p.Concurrency, errs[2] = change(req.Concurrency, "concurrency", parseLimit)
	p.Models, errs[3] = change(req.Models, "models", parseModels)
	p.Budget, errs[4] = change(req.Budget, "budget_credits", parseBudget)
	p.BudgetPeriod, errs[5] = change(req.BudgetPeriod, "budget_period", parsePeriod)
	p.ExpiresAt, errs[6] = req.expiry(now)
	for _, e := range errs {
		if e != nil {
			return keys.UpdateParams{}, e
		}
	}
	return p, nil
}

// expiry is the expiry change of a PATCH body: expires (as the CLI's
// --expires) or expires_at (RFC 3339), not both; null on either clears it.
func (req updateKeyRequest) expiry(now time.Time) (keys.Change[time.Time], *api.Error) {
	if req.Expires != nil && req.ExpiresAt != nil {
		return keys.Change[time.Time]{}, bothExpiries()
	}
	if req.Expires != nil {
		return change(req.Expires, "expires", func(raw json.RawMessage) (time.Time, error) {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return time.Time{}, errors.New(`want a duration such as "30d" or a date such as "2027-01-31"`)
			}
			return keys.ParseExpiry(s, now)
		})
	}
	return change(req.ExpiresAt, "expires_at", func(raw json.RawMessage) (time.Time, error) {
		var t time.Time
		if err := json.Unmarshal(raw, &t); err != nil {
			return time.Time{}, errors.New(`want an RFC 3339 time such as "2027-01-31T00:00:00Z"`)
		}
		return t, nil
	})
}

// change reads one member of an admin body into a keys.Change: absent
// (nil) keeps the setting, null clears it, anything else is parsed, and
// what parse refuses is a 400 naming param.
func change[T any](raw json.RawMessage, param string, parse func(json.RawMessage) (T, error)) (keys.Change[T], *api.Error) {
	if raw == nil {
		return keys.Change[T]{}, nil
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return keys.Clear[T](), nil
	}
	v, err := parse(raw)
	if err != nil {
		return keys.Change[T]{}, invalidParam(param, err)
	}
	return keys.To(v), nil
}

// parseLimit reads rpm, tpm or concurrency: a whole number, 0 unlimited.
func parseLimit(raw json.RawMessage) (int, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err != nil || n < 0 {
		return 0, errors.New("want a whole number >= 0 (0: unlimited)")
	}
	return n, nil
}

// parseModels reads a model allow-list; [] is every model, as null.
func parseModels(raw json.RawMessage) ([]string, error) {
	var ms []string
	if err := json.Unmarshal(raw, &ms); err != nil {
		return nil, errors.New("want an array of model ids")
	}
	return ms, nil
}

// parseBudget reads a number of credits into nano-credits.
func parseBudget(raw json.RawMessage) (int64, error) {
	var a credits.Amount
	if err := a.UnmarshalJSON(bytes.TrimSpace(raw)); err != nil {
		return 0, err
	}
	return int64(a), nil
}

// parsePeriod reads a budget period: "day", "week" or "month".
func parsePeriod(raw json.RawMessage) (credits.Period, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errors.New(`budget period must be "day", "week" or "month"`)
	}
	return credits.ParsePeriod(s)
}

// invalidParam is a 400 invalid_request_error naming param.
func invalidParam(param string, err error) *api.Error {
	return api.NewError(api.CodeInvalidRequest, "invalid "+param+": "+err.Error()).WithParam(param)
}

// bothExpiries refuses a body giving both expires and expires_at.
func bothExpiries() *api.Error {
	return api.NewError(api.CodeInvalidRequest, "give either expires or expires_at, not both").WithParam("expires")
}

func handleAdminRevokeKey(store *keys.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k, err := store.Revoke(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			keyStoreError(w, r, err)
			return
		}
		middleware.WriteJSON(w, r, http.StatusOK, k)
	}
}

func handleAdminRotateKey(store *keys.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req rotateKeyRequest
		if !decodeAdminBody(w, r, &req, false) {
			return
		}
		grace := defaultGrace
		if req.Grace != nil {
			d, err := keys.ParseDuration(*req.Grace)
			if err != nil || d < 0 {
				middleware.WriteError(w, r, api.NewError(api.CodeInvalidRequest, `invalid grace: want a duration such as "24h" or "0s"`).WithParam("grace"))
				return
			}
			grace = d
		}
		created, err := store.Rotate(r.Context(), chi.URLParam(r, "id"), grace)
		if err != nil {
			keyStoreError(w, r, err)
			return
		}
		middleware.WriteJSON(w, r, http.StatusOK, created)
	}
}

func handleAdminUsage(store *keys.Store, now func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := keys.UsageQuery{Key: r.URL.Query().Get("key")}
		if since := r.URL.Query().Get("since"); since != "" {
			t, err := keys.ParseSince(since, now())
			if err != nil {
				middleware.WriteError(w, r, api.NewError(api.CodeInvalidRequest, "invalid since: "+err.Error()).WithParam("since"))
				return
			}
			q.Since = t
		}
		if q.Key != "" {
			if _, err := store.Get(r.Context(), q.Key); err != nil {
				keyStoreError(w, r, err)
				return
			}
		}
		rows, err := store.Usage(r.Context(), q)
		if err != nil {
			keyStoreError(w, r, err)
			return
		}
		if rows == nil {
			rows = []keys.UsageRow{}
		}
		middleware.WriteJSON(w, r, http.StatusOK, rows)
	}
}

// decodeAdminBody reads a small JSON body into v. An empty body is fine
// unless required.
func decodeAdminBody(w http.ResponseWriter, r *http.Request, v any, required bool) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		if middleware.IsBodyTooLarge(err) {
			middleware.WriteError(w, r, middleware.BodyTooLargeError(maxAdminBody))
		} else {
			middleware.WriteError(w, r, api.NewError(api.CodeInvalidRequest, "could not read the request body"))
		}
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if required {
			middleware.WriteError(w, r, api.NewError(api.CodeInvalidJSON, "The request body is empty; expected a JSON object."))
			return false
		}
		return true
	}
	if e := checkObject(body, jsonFields(v)); e != nil {
		middleware.WriteError(w, r, e)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields() // checkObject did; kept as a second guard
	if err := dec.Decode(v); err != nil {
		middleware.WriteError(w, r, api.NewError(api.CodeInvalidJSON, "The request body is not a valid JSON object for this call: "+err.Error()))
		return false
	}
	return true
}

// checkObject enforces what encoding/json lets through: body must be exactly
// one JSON object (no trailing data), and each member name must be one of
// fields, spelled exactly (json matches names case-insensitively, so "RPM"
// would be taken for "rpm") and given once (json keeps the last, so
// {"rpm":5,"rpm":null} would silently drop the limit).
func checkObject(body []byte, fields map[string]bool) *api.Error {
	dec := json.NewDecoder(bytes.NewReader(body))
	invalid := func(msg string) *api.Error {
		return api.NewError(api.CodeInvalidJSON, "The request body is not a valid JSON object for this call: "+msg)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return invalid("expected a JSON object")
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return invalid(err.Error())
		}
		name, _ := tok.(string)
		if e := checkField(name, fields, seen); e != nil {
			return e
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return invalid(err.Error())
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return invalid(err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("unexpected data after the JSON object")
	}
	return nil
}

// checkField refuses a member name that is unknown, a case variant of a
// known one, or repeated; the message and param name it. invalid_json, as
// unknown fields always were, since the body's shape is what is wrong.
func checkField(name string, fields, seen map[string]bool) *api.Error {
	if !fields[name] {
		for f := range fields {
			if strings.EqualFold(f, name) {
				return api.NewError(api.CodeInvalidJSON, fmt.Sprintf(
					"unknown field %q: field names are case-sensitive; did you mean %q?", name, f)).WithParam(name)
			}
		}
		return api.NewError(api.CodeInvalidJSON, fmt.Sprintf("unknown field %q", name)).WithParam(name)
	}
	if seen[name] {
		return api.NewError(api.CodeInvalidJSON, fmt.Sprintf("duplicate field %q", name)).WithParam(name)
	}
	seen[name] = true
	return nil
}

// jsonFields lists the JSON member names of the struct v points to, from
// its json tags, so the request types stay the one place naming them.
func jsonFields(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	fields := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		if name != "-" {
			fields[name] = true
		}
	}
	return fields
}

// keyStoreError maps key store errors to honest statuses.
func keyStoreError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, keys.ErrNotFound):
		middleware.WriteError(w, r, api.NewError(api.CodeNotFound, err.Error()))
	case errors.Is(err, keys.ErrDuplicateName):
		middleware.WriteError(w, r, api.NewError(api.CodeConflict, err.Error()).WithParam("name"))
	case errors.Is(err, keys.ErrInvalid):
		middleware.WriteError(w, r, api.NewError(api.CodeInvalidRequest, err.Error()))
	default:
		middleware.LoggerFrom(r.Context()).Error().Err(err).Msg("key store error")
		middleware.WriteError(w, r, api.NewError(api.CodeInternal, "the key store failed; see the gateway log"))
	}
}
