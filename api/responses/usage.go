package responses

import (
	"bytes"
	"encoding/json"
)

// UsageOf is a response's token usage for accounting: input (cached
// included), output (reasoning included) and cached input tokens, never
// negative; zeros for a response without usage.
func UsageOf(resp *Response) (input, output, cached int64) {
	if resp == nil || resp.Usage == nil {
		return 0, 0, 0
	}
	u := resp.Usage
	return max(u.InputTokens, 0), max(u.OutputTokens, 0), u.Cached()
}

// lastEvents are the event types whose response object carries the usage.
var lastEvents = [...][]byte{[]byte(EventCompleted), []byte(EventIncomplete), []byte(EventFailed)}

// EventUsage reads the usage of a passthrough Responses stream event from
// its data: the response object of response.completed, response.incomplete
// or response.failed. ok is false for every other event and for one
// without usage.
//
// It runs on every event of every passthrough stream, so an event that
// cannot be one of those (its data does not even contain the type name)
// is refused without decoding; the few that can are decoded, which also
// rules out a delta whose text merely mentions the name.
func EventUsage(data []byte) (Usage, bool) {
	maybe := false
	for _, t := range lastEvents {
		maybe = maybe || bytes.Contains(data, t)
	}
	if !maybe {
		return Usage{}, false
	}
	var e struct {
		Type     string `json:"type"`
		Response *struct {
			Usage *Usage `json:"usage"`
		} `json:"response"`
	}
	if json.Unmarshal(data, &e) != nil || e.Response == nil || e.Response.Usage == nil {
		return Usage{}, false
	}
	switch e.Type {
	case EventCompleted, EventIncomplete, EventFailed:
		return *e.Response.Usage, true
	}
	return Usage{}, false
}

var usageKey = []byte(`"usage"`)

// BodyUsage reads the top-level usage of a whole non-stream Responses
// body. ok is false when there is none or the body is not JSON.
func BodyUsage(body []byte) (Usage, bool) {
	if !bytes.Contains(body, usageKey) {
		return Usage{}, false
	}
	var w struct {
		Usage *Usage `json:"usage"`
	}
	if json.Unmarshal(body, &w) != nil || w.Usage == nil {
		return Usage{}, false
	}
	return *w.Usage, true
}

// TailUsage reads the usage of a non-stream Responses body from its last
// bytes (the API sends usage after the output), so a body of any size is
// accounted without being buffered: the last "usage" key whose value is a
// complete object with input_tokens. ok is false when the tail holds none.
func TailUsage(tail []byte) (Usage, bool) {
	for end := len(tail); end > 0; {
		i := bytes.LastIndex(tail[:end], usageKey)
		if i < 0 {
			return Usage{}, false
		}
		end = i
		rest := bytes.TrimLeft(tail[i+len(usageKey):], " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t\r\n")
		if len(rest) == 0 || rest[0] != '{' {
			continue
		}
		var raw json.RawMessage
		if json.NewDecoder(bytes.NewReader(rest)).Decode(&raw) != nil {
			continue
		}
		var probe struct {
			InputTokens *int64 `json:"input_tokens"`
		}
		var u Usage
		if json.Unmarshal(raw, &probe) == nil && probe.InputTokens != nil && json.Unmarshal(raw, &u) == nil {
			return u, true
		}
	}
	return Usage{}, false
}
