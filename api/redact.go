package api

import "strings"

// secretPrefixes start the credentials the gateway handles: GitHub tokens
// (classic, OAuth, user-to-server, server-to-server, refresh, fine-grained)
// and Copilot tokens ("tid=...;exp=...:<mac>").
var secretPrefixes = [...]string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "tid="}

// Redacted replaces a secret in text passed through Redact.
const Redacted = "[redacted]"

// Redact masks anything that looks like a GitHub or Copilot token, or the
// credential after "Bearer "/"token ", in text that came from outside (an
// upstream error body, an error string) before it reaches a client or a log.
// It is a last line of defence: no code path is meant to put a secret there.
func Redact(s string) string {
	if !mayHoldSecret(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if keep, n := secretAt(s, i); n > 0 {
			b.WriteString(s[i : i+keep])
			b.WriteString(Redacted)
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// mayHoldSecret is a cheap pre-check so the common case does not allocate.
func mayHoldSecret(s string) bool {
	for _, p := range secretPrefixes {
		if strings.Contains(s, p) {
			return true
		}
	}
	return containsFold(s, "bearer ") || containsFold(s, "token ")
}

// secretAt reports a secret starting at s[i]: n bytes long (0 for none), of
// which the first keep (a scheme word such as "Bearer ") stay readable.
func secretAt(s string, i int) (keep, n int) {
	// A prefix only counts at a word start, so "xghp_" in prose is left alone.
	if i > 0 && isTokenByte(s[i-1]) {
		return 0, 0
	}
	for _, p := range secretPrefixes {
		if strings.HasPrefix(s[i:], p) {
			if n := tokenRun(s[i+len(p):]); n >= 8 {
				return 0, len(p) + n
			}
		}
	}
	for _, scheme := range [...]string{"bearer ", "token "} {
		if len(s)-i > len(scheme) && strings.EqualFold(s[i:i+len(scheme)], scheme) {
			if n := tokenRun(s[i+len(scheme):]); n >= 16 {
				return len(scheme), len(scheme) + n
			}
		}
	}
	return 0, 0
}

// tokenRun is the length of the run of token characters at the start of s.
func tokenRun(s string) int {
	n := 0
	for n < len(s) && isTokenByte(s[n]) {
		n++
	}
	return n
}

func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '_', '-', '.', '=', ';', ':', '+', '/':
		return true
	}
	return false
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
