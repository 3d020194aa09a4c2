package redislimits

import (
	"encoding/hex"
	"strconv"
	"time"

	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// The key layout. {…} is the hash tag: a script's keys share it.
//
//	with a global limit           without
//	P:{g}:conc   P:{g}:rpm        (unused: P:{k:ID}:nil)
//	P:{g}:k:ID:conc               P:{k:ID}:conc     leases (id → expiry)
//	P:{g}:k:ID:rpm                P:{k:ID}:rpm      admissions (id → time)
//	P:{g}:k:ID:tpm, …:tsum        P:{k:ID}:tpm, …:tsum  token entries, sum
//
// Budgets, per period (start in unix seconds):
//
//	with a global budget          without
//	P:{g}:b:g:PERIOD:START        (none)
//	P:{g}:b:k:ID:PERIOD:START     P:{k:ID}:b:PERIOD:START   hash
//	… plus :res                   … plus :res               reservations

// limitNames are the keys of one admission, in admitScript's KEYS order.
type limitNames struct {
	all [6]string // global leases, global admissions, key leases, admissions, tokens, sum
	tok [3]string // reserveScript's KEYS: key admissions, tokens, sum
}

func (n *limitNames) gconc() string { return n.all[0] }
func (n *limitNames) kconc() string { return n.all[2] }

// limitNames returns (cached) the keys for keyID; global says whether a
// global limit applies (the {g} layout), useKey whether the key's do.
func (c *Client) limitNames(keyID string, global, useKey bool) *limitNames {
	if !useKey {
		keyID = ""
	}
	cacheKey := "k" + keyID
	if global {
		cacheKey = "g" + keyID
	}
	if v, ok := c.names.Load(cacheKey); ok {
		return v.(*limitNames)
	}
	p := c.cfg.Prefix
	n := &limitNames{}
	if global {
		k := p + ":{g}:k:" + escapeID(keyID)
		n.all = [6]string{p + ":{g}:conc", p + ":{g}:rpm", k + ":conc", k + ":rpm", k + ":tpm", k + ":tsum"}
	} else {
		k := p + ":{k:" + escapeID(keyID) + "}"
		n.all = [6]string{k + ":nil", k + ":nil", k + ":conc", k + ":rpm", k + ":tpm", k + ":tsum"}
	}
	n.tok = [3]string{n.all[3], n.all[4], n.all[5]}
	v, _ := c.names.LoadOrStore(cacheKey, n)
	return v.(*limitNames)
}

// budgetKeys returns budgetCheckScript's KEYS for specs: the {g} layout
// when one of them is the global budget.
func (c *Client) budgetKeys(specs []middleware.BudgetSpec) []string {
	global := false
	for _, s := range specs {
		global = global || s.KeyID == ""
	}
	keys := make([]string, 0, 2*len(specs))
	for _, s := range specs {
		var k string
		switch {
		case s.KeyID == "":
			k = c.cfg.Prefix + ":{g}:b:g"
		case global:
			k = c.cfg.Prefix + ":{g}:b:k:" + escapeID(s.KeyID)
		default:
			k = c.cfg.Prefix + ":{k:" + escapeID(s.KeyID) + "}:b"
		}
		k += ":" + string(s.Period) + ":" + strconv.FormatInt(s.Start.Unix(), 10)
		keys = append(keys, k, k+":res")
	}
	return keys
}

// budgetMargin is how long a period's keys outlive its end, for the
// settles of requests that were running when it ended.
const budgetMargin = time.Hour

// escapeID keeps a key id readable when it is plain (key ids are
// "key_…"); anything that could end a hash tag or a key segment is
// hex-encoded instead.
func escapeID(id string) string {
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '.') {
			return "~" + hex.EncodeToString([]byte(id))
		}
	}
	return id
}
