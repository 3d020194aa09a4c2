package redislimits

import (
	"context"
	"fmt"
	"time"

	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// Admit implements middleware.LimitStore: one admitScript run decides on
// every limit of the request. While Redis is unreachable the failure mode
// applies: an error (closed) or this instance's memory (open).
func (c *Client) Admit(ctx context.Context, req middleware.AdmitRequest) (middleware.LimitTicket, middleware.LimitSnapshot, *middleware.LimitRejection, error) {
	global := req.GlobalRPM > 0 || req.GlobalConcurrency > 0
	useKey := req.Key.Any()
	if !global && !useKey {
		return noTicket{}, middleware.LimitSnapshot{}, nil, nil
	}
	gen, ok := c.br.allow()
	if !ok {
		return c.admitFallback(ctx, req, ErrUnavailable)
	}
	t, snap, rej, err := c.admit(ctx, req, global, useKey)
	c.br.done(gen, err)
	if err != nil {
		return c.admitFallback(ctx, req, err)
	}
	if rej != nil {
		return nil, snap, rej, nil
	}
	return t, snap, nil, nil
}

// admitFallback is the failure mode for an admission Redis could not take.
func (c *Client) admitFallback(ctx context.Context, req middleware.AdmitRequest, err error) (middleware.LimitTicket, middleware.LimitSnapshot, *middleware.LimitRejection, error) {
	if c.cfg.Failure == FailOpen {
		return c.memLimits.Admit(ctx, req)
	}
	return nil, middleware.LimitSnapshot{}, nil, err
}

// admit runs admitScript and, when admitted, registers the request's
// leases for renewal.
func (c *Client) admit(ctx context.Context, req middleware.AdmitRequest, global, useKey bool) (*ticket, middleware.LimitSnapshot, *middleware.LimitRejection, error) {
	n := c.limitNames(req.KeyID, global, useKey)
	id := c.newID()
	use := "0"
	if useKey {
		use = "1"
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	v, err := admitScript.Run(ctx, c.rdb, n.all[:], id, req.GlobalConcurrency, req.GlobalRPM,
		req.Key.Concurrency, req.Key.RPM, req.Key.TPM, use, micros(c.cfg.LeaseTTL), micros(c.cfg.window)).Slice()
	if err != nil {
		return nil, middleware.LimitSnapshot{}, nil, err
	}
	snap, rej, err := parseDecision(v, req.Key)
	if err != nil || rej != nil {
		return nil, snap, rej, err
	}
	t := &ticket{c: c, n: n, id: id, lim: req.Key,
		gLease: req.GlobalConcurrency > 0, gAdm: req.GlobalRPM > 0,
		kLease: useKey && req.Key.Concurrency > 0, kAdm: useKey && req.Key.RPM > 0}
	if t.gLease {
		c.leases.add(n.gconc(), id)
	}
	if t.kLease {
		c.leases.add(n.kconc(), id)
	}
	return t, snap, nil, nil
}

// parseDecision reads admitScript's (and reserveScript's) reply: {reason,
// limit, wait µs, admissions, request reset µs, token sum, token reset µs}.
func parseDecision(v []any, lim middleware.KeyLimits) (middleware.LimitSnapshot, *middleware.LimitRejection, error) {
	if len(v) != 7 {
		return middleware.LimitSnapshot{}, nil, fmt.Errorf("redislimits: unexpected script reply %v", v)
	}
	reason, _ := v[0].(string)
	var n [6]int64
	for i := range n {
		x, ok := v[i+1].(int64)
		if !ok {
			return middleware.LimitSnapshot{}, nil, fmt.Errorf("redislimits: unexpected script reply %v", v)
		}
		n[i] = x
	}
	var snap middleware.LimitSnapshot
	if lim.RPM > 0 {
		snap.RPM, snap.ReqRemaining, snap.ReqReset = lim.RPM, int(max(0, int64(lim.RPM)-n[2])), usDur(n[3])
	}
	if lim.TPM > 0 {
		snap.TPM, snap.TokRemaining, snap.TokReset = lim.TPM, int(max(0, int64(lim.TPM)-n[4])), usDur(n[5])
	}
	if reason == "" {
		return snap, nil, nil
	}
	return snap, &middleware.LimitRejection{Reason: middleware.LimitReason(reason), Limit: int(n[0]), Wait: usDur(n[1])}, nil
}

func usDur(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// ticket is a request admitted through Redis.
type ticket struct {
	c   *Client
	n   *limitNames
	id  string
	lim middleware.KeyLimits
	// What admission took: leases to free, admissions a refund removes.
	gLease, gAdm, kLease, kAdm bool
	resN                       int64 // tokens reserved
}

// ReserveTokens implements middleware.LimitTicket. While Redis is
// unreachable, closed refuses and open lets the request go unreserved (it
// was admitted by the shared counters; this instance has no window for it).
func (t *ticket) ReserveTokens(ctx context.Context, need int64) (middleware.LimitSnapshot, *middleware.LimitRejection, error) {
	c := t.c
	var err error
	if gen, ok := c.br.allow(); ok {
		var snap middleware.LimitSnapshot
		var rej *middleware.LimitRejection
		snap, rej, err = t.reserve(ctx, need)
		c.br.done(gen, err)
		if err == nil {
			return snap, rej, nil
		}
	} else {
		err = ErrUnavailable
	}
	if c.cfg.Failure == FailOpen {
		return middleware.LimitSnapshot{}, nil, nil
	}
	return middleware.LimitSnapshot{}, nil, err
}

func (t *ticket) reserve(ctx context.Context, need int64) (middleware.LimitSnapshot, *middleware.LimitRejection, error) {
	ctx, cancel := t.c.callCtx(ctx)
	defer cancel()
	v, err := reserveScript.Run(ctx, t.c.rdb, t.n.tok[:], "r"+t.id, need, t.lim.RPM, t.lim.TPM, micros(t.c.cfg.window)).Slice()
	if err != nil {
		return middleware.LimitSnapshot{}, nil, err
	}
	snap, rej, err := parseDecision(v, t.lim)
	if err == nil && rej == nil {
		t.resN = need
	}
	return snap, rej, err
}

// Release implements middleware.LimitTicket. Its leases stop being
// renewed at once; if Redis cannot be reached they expire after LeaseTTL
// (and the usage is not counted).
func (t *ticket) Release(tokens int64, refund bool) {
	c := t.c
	if t.gLease {
		c.leases.remove(t.n.gconc(), t.id)
	}
	if t.kLease {
		c.leases.remove(t.n.kconc(), t.id)
	}
	gen, ok := c.br.allow()
	if !ok {
		return
	}
	ctx, cancel := c.callCtx(context.Background())
	defer cancel()
	err := releaseScript.Run(ctx, c.rdb, t.n.all[:], t.id, flag(t.gLease), flag(refund && t.gAdm),
		flag(t.kLease), flag(refund && t.kAdm), t.resN, max(tokens, 0), micros(c.cfg.window)).Err()
	c.br.done(gen, err)
	if err != nil {
		c.cfg.Logger.Debug().Str("error", err.Error()).Msg("redis: release failed; the request's leases will expire")
	}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// noTicket is the ticket of a request no limit applies to.
type noTicket struct{}

func (noTicket) ReserveTokens(context.Context, int64) (middleware.LimitSnapshot, *middleware.LimitRejection, error) {
	return middleware.LimitSnapshot{}, nil, nil
}

func (noTicket) Release(int64, bool) {}
