package api

import (
	"bytes"
	"math"
	"strconv"
)

// HeaderCost is the response header a cost may come in: nano-AI-credits
// of the request, as copilot_usage.total_nano_aiu is in a body. Copilot's
// cost reporting is undocumented; this name is the gateway's reading.
const HeaderCost = "X-Copilot-Total-Nano-Aiu"

var costKey = []byte(`"total_nano_aiu"`)

// HasCost reports whether data may carry a reported cost: the cheap check
// a relay makes on every event before calling ReportedCost.
func HasCost(data []byte) bool { return bytes.Contains(data, costKey) }

// ReportedCost reads the cost Copilot reports for a request from a body,
// a body's tail, or one stream event: the last "total_nano_aiu" key (in
// copilot_usage, wherever that object sits) whose value is a non-negative
// number, in nano-AI-credits (1e9 = one credit). A fractional value is
// rounded to the nearest nano. ok is false when there is none.
func ReportedCost(data []byte) (nano int64, ok bool) {
	for end := len(data); end > 0; {
		i := bytes.LastIndex(data[:end], costKey)
		if i < 0 {
			return 0, false
		}
		end = i
		rest := skipSpace(data[i+len(costKey):])
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		if n, ok := ParseNano(leadingNumber(skipSpace(rest[1:]))); ok {
			return n, true
		}
	}
	return 0, false
}

// ParseNano reads a non-negative decimal count of nano-credits, as a body
// or a header carries it; fractions round to the nearest integer.
func ParseNano(s []byte) (int64, bool) {
	if len(s) == 0 || s[0] == '-' {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(s), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil || f < 0 || f >= math.MaxInt64 || math.IsNaN(f) {
		return 0, false
	}
	return int64(math.Round(f)), true
}

// leadingNumber is the JSON number at the start of b (its characters up
// to the first that cannot be part of one).
func leadingNumber(b []byte) []byte {
	n := 0
	for n < len(b) && (b[n] >= '0' && b[n] <= '9' || b[n] == '.' || b[n] == 'e' || b[n] == 'E' || b[n] == '+' || b[n] == '-') {
		n++
	}
	return b[:n]
}
