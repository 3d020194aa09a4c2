package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// Names of the readiness conditions.
const (
	CondCopilotToken = "copilot_token"
	CondKeyStore     = "key_store"
	CondShuttingDown = "shutting_down"
)

// Key store probe tuning: a probe is a tiny query, bounded so a stuck
// database makes /readyz fail rather than hang, and its result is reused for
// a second so frequent probes (or several orchestrators) cost one query.
const (
	keyStorePingTimeout = time.Second
	keyStorePingCache   = time.Second
)

// Condition is one readiness check in the /readyz body.
type Condition struct {
	// Name is CondCopilotToken, CondKeyStore, CondShuttingDown or another
	// check's name.
	Name string `json:"name"`
	// OK reports that the condition holds.
	OK bool `json:"ok"`
	// Reason says why it does not hold (never a secret).
	Reason string `json:"reason,omitempty"`
	// ExpiresAt is the Copilot token's expiry, when one is held.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// TokenCondition is the CondCopilotToken condition for the token manager's
// status: held (with its expiry), or why not.
func TokenCondition(st copilot.TokenStatus) Condition {
	c := Condition{Name: CondCopilotToken, OK: st.Valid}
	switch {
	case st.Valid:
		c.ExpiresAt = st.ExpiresAt.UTC()
	case st.LastError != nil:
		c.Reason = "no valid Copilot token: " + st.LastError.Error()
	default:
		c.Reason = "no valid Copilot token yet: the first token exchange is in progress"
	}
	return c
}

// probeBody is the JSON of the health probes. It is deliberately not the
// OpenAI error envelope: probes are read by orchestrators and humans, not by
// SDKs. Shapes:
//
//	GET /healthz  200 {"status":"ok"}
//	GET /readyz   200 {"status":"ready","conditions":[...]}
//	GET /readyz   503 {"status":"unavailable","reason":"...","conditions":[...]}
//
// reason is the first failing condition's reason.
type probeBody struct {
	Status     string      `json:"status"`
	Reason     string      `json:"reason,omitempty"`
	Conditions []Condition `json:"conditions,omitempty"`
}

// handleHealthz reports that the process serves HTTP; it checks nothing else,
// so a Copilot outage does not get the process restarted.
func handleHealthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		middleware.WriteJSON(w, r, http.StatusOK, probeBody{Status: "ok"})
	}
}

// handleReadyz reports whether requests can be served, condition by
// condition: those of Deps.Ready (the Copilot token), the key store answering
// a query (when there is one) and not shutting down. Any failing condition
// makes it 503.
func handleReadyz(rd *readiness) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		conds := rd.conditions(r.Context())
		body := probeBody{Status: "ready", Conditions: conds}
		status := http.StatusOK
		for _, c := range conds {
			if !c.OK {
				body.Status, body.Reason, status = "unavailable", c.Reason, http.StatusServiceUnavailable
				break
			}
		}
		middleware.WriteJSON(w, r, status, body)
	}
}

// readiness is what /readyz checks: the conditions of Deps.Ready, the key
// store (when there is one) and the server's draining flag.
type readiness struct {
	ready     func() []Condition
	keys      *keys.Store
	draining  *atomic.Bool
	now       func() time.Time
	keysCheck keysCheck
}

// conditions evaluates every condition.
func (rd *readiness) conditions(ctx context.Context) []Condition {
	var conds []Condition
	if rd.ready != nil {
		conds = append(conds, rd.ready()...)
	}
	if rd.keys != nil {
		c := Condition{Name: CondKeyStore, OK: true}
		if err := rd.keysCheck.check(ctx, rd.now, rd.keys.Ping); err != nil {
			// The wrapped cause, without the database's path.
			if u := errors.Unwrap(err); u != nil {
				err = u
			}
			c.OK, c.Reason = false, "key store unreachable: "+err.Error()
		}
		conds = append(conds, c)
	}
	c := Condition{Name: CondShuttingDown, OK: true}
	if rd.draining.Load() {
		c.OK, c.Reason = false, "shutting down"
	}
	conds = append(conds, c)
	for i := range conds {
		if !conds[i].OK {
			conds[i].Reason = api.Redact(conds[i].Reason)
			if conds[i].Reason == "" {
				conds[i].Reason = "not ready"
			}
		}
	}
	return conds
}

// CondRedis is the condition of the Redis that shares limits (see Probe).
const CondRedis = "redis"

// Probe is a readiness condition from a dependency's ping (Redis): the
// ping's result, cached for a second so /readyz polling does not hammer it.
// /readyz is public, so a failure shows as "<Name> unreachable" only: the
// ping's error can name the internal host:port. The error goes to Logger,
// once each time the condition starts failing.
type Probe struct {
	Name string
	Ping func(context.Context) error
	Now  func() time.Time
	// Logger gets the ping's error when the condition starts failing;
	// the zero Logger logs nothing.
	Logger zerolog.Logger

	c       keysCheck
	failing atomic.Bool // the last Condition failed
}

// Condition pings (or reuses the last ping) and reports the condition.
func (p *Probe) Condition() Condition {
	c := Condition{Name: p.Name, OK: true}
	err := p.c.check(context.Background(), p.Now, p.Ping)
	if err == nil {
		p.failing.Store(false)
		return c
	}
	if !p.failing.Swap(true) {
		p.Logger.Warn().Str("condition", p.Name).Str("error", api.Redact(err.Error())).Msg("readiness: " + p.Name + " unreachable")
	}
	c.OK, c.Reason = false, p.Name+" unreachable"
	return c
}

// keysCheck caches the key store probe for keyStorePingCache. Concurrent
// probes wait for the one in flight instead of each querying.
type keysCheck struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

func (k *keysCheck) check(ctx context.Context, now func() time.Time, ping func(context.Context) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	t := now()
	if !k.at.IsZero() && t.Sub(k.at) < keyStorePingCache && t.Sub(k.at) >= 0 {
		return k.err
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyStorePingTimeout)
	defer cancel()
	k.err = ping(pctx)
	k.at = now()
	return k.err
}
