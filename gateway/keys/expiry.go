package keys

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// ParseExpiry reads a key expiry relative to now:
//   - a duration, with Go's units plus d (24h) and w (7d): "30d", "12h",
//     "90m", "2w", "1w3d", "1h30m" — the key expires that long after now;
//   - a date "2027-01-31" — the key expires at the START of that day, 00:00
//     UTC (it is not valid on that day);
//   - an RFC 3339 time "2027-01-31T18:00:00+01:00".
//
// The result is in UTC and must be after now. Errors wrap ErrInvalid.
func ParseExpiry(s string, now time.Time) (time.Time, error) {
	var t time.Time
	if d, err := time.Parse(dayLayout, s); err == nil {
		t = d
	} else if d, err := time.Parse(time.RFC3339, s); err == nil {
		t = d
	} else {
		d, err := ParseDuration(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: expiry %q: use a duration (30d, 12h, 2w) or a date (2027-01-31)", ErrInvalid, s)
		}
		t = now.Add(d)
	}
	t = t.UTC()
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("%w: expiry %q is not in the future", ErrInvalid, s)
	}
	return t, nil
}

// ParseDuration reads a non-negative duration in Go's syntax ("1h30m",
// "500ms", "0") extended with the units d (24h) and w (7 days), which may be
// combined with the others ("1w2d", "1d12h"). It suits --grace and --since.
// Errors wrap ErrInvalid.
func ParseDuration(s string) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("%w: duration %q: use a number and a unit, e.g. 30d, 12h, 90m, 2w", ErrInvalid, s)
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("%w: duration %q must not be negative", ErrInvalid, s)
		}
		return d, nil
	}
	if s == "" {
		return bad()
	}
	var total time.Duration
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			i++
		}
		j := i
		for j < len(rest) && ('a' <= rest[j] && rest[j] <= 'z' || 'A' <= rest[j] && rest[j] <= 'Z') {
			j++
		}
		if i == 0 || j == i {
			return bad()
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return bad()
		}
		var unit time.Duration
		switch rest[i:j] {
		case "w":
			unit = 7 * 24 * time.Hour
		case "d":
			unit = 24 * time.Hour
		case "h":
			unit = time.Hour
		case "m":
			unit = time.Minute
		case "s":
			unit = time.Second
		default:
			return bad()
		}
		if n > int64(math.MaxInt64/unit) || total > math.MaxInt64-time.Duration(n)*unit {
			return 0, fmt.Errorf("%w: duration %q is too long", ErrInvalid, s)
		}
		total += time.Duration(n) * unit
		rest = rest[j:]
	}
	return total, nil
}

// ParseSince reads the start of a usage window relative to now, for
// `usage --since` and GET /admin/usage?since=:
//   - a duration with the units of ParseDuration ("7d", "24h", "2w") counts
//     back from now;
//   - a date "2026-11-01" is the start of that day, 00:00 UTC;
//   - an RFC 3339 time is taken as is.
//
// Usage is kept per UTC day, so a window starts at the beginning of the UTC
// day the result falls on. The result is in UTC. Errors wrap ErrInvalid.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.Parse(dayLayout, s); err == nil {
		return d, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: since %q: use a duration (7d, 24h, 2w) or a date (2026-11-01)", ErrInvalid, s)
	}
	return now.Add(-d).UTC(), nil
}
