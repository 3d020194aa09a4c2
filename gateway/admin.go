package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// maxAdminBody bounds an admin request body; they are a few fields.
const maxAdminBody = 64 << 10

// adminAuth admits only requests carrying the admin token as a bearer
// token. Both sides are hashed first so the comparison is constant-time
// whatever the lengths; a client key is just another wrong token here.
func adminAuth(token string) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
			if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="copilot-proxy admin"`)
				middleware.WriteError(w, r, api.NewError(api.CodeInvalidAPIKey, "Invalid admin token. Send the admin token as 'Authorization: Bearer <token>'."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
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
}

// rotateKeyRequest is the optional body of POST /admin/keys/{id}/rotate.
type rotateKeyRequest struct {
	Grace *string `json:"grace"` // Go duration; default 24h, "0s" cuts the old secret off
}

// defaultGrace is how long a rotated-out secret keeps working, as the CLI.
const defaultGrace = 24 * time.Hour

func handleAdminListKeys(store *keys.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		list, err := store.List(r.Context())
		if err != nil {
			keyStoreError(w, r, err)
			return
		}
		if list == nil {
			list = []keys.KeyWithUsage{}
		}
		writeJSON(w, r, http.StatusOK, list)
	}
}

func handleAdminCreateKey(store *keys.Store, now func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req createKeyRequest
		if !decodeAdminBody(w, r, &req, true) {
			return
		}
		p := keys.CreateParams{Name: req.Name, RPM: req.RPM, TPM: req.TPM, Concurrency: req.Concurrency, Models: req.Models, ExpiresAt: req.ExpiresAt}
		if req.Expires != "" {
			at, err := keys.ParseExpiry(req.Expires, now())
			if err != nil {
				middleware.WriteError(w, r, api.NewError(api.CodeInvalidRequest, "invalid expires: "+err.Error()).WithParam("expires"))
				return
			}
			p.ExpiresAt = &at
		}
		created, err := store.Create(r.Context(), p)
		if err != nil {
			keyStoreError(w, r, err)
			return
		}
		writeJSON(w, r, http.StatusCreated, created)
	}
}

func handleAdminRevokeKey(store *keys.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k, err := store.Revoke(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			keyStoreError(w, r, err)
			return
		}
		writeJSON(w, r, http.StatusOK, k)
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
		writeJSON(w, r, http.StatusOK, created)
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
		writeJSON(w, r, http.StatusOK, rows)
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
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields() // a typo in a limit's name must not silently drop the limit
	if err := dec.Decode(v); err != nil {
		middleware.WriteError(w, r, api.NewError(api.CodeInvalidJSON, "The request body is not a valid JSON object for this call: "+err.Error()))
		return false
	}
	return true
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
