//go:build linux

package main

import (
	"strconv"
	"strings"
)

// endpoint is one API the load is sent as: a path and a body for
// copilot-proxy, and, when the call is native (the upstream serves that API
// for the model), Copilot's path and model id for the direct calls and the
// baseline. Every endpoint carries the same conversation of about
// -body-kib KiB.
type endpoint struct {
	name   string // key in the results: chat, responses, responses-to-chat, messages, messages-to-chat
	title  string // what the table calls it
	model  string // the model copilot-proxy is asked for
	native bool   // the upstream serves this API for the model: direct and the baseline are measured too

	proxyPath  string // copilot-proxy's (and the baseline's) path
	directPath string // Copilot's own path
	anthropic  bool   // send anthropic-version, as Anthropic's SDKs do

	proxyPlain, proxyStream   []byte // bodies for copilot-proxy
	directPlain, directStream []byte // bodies for direct and the baseline (Copilot's model id)
}

// conversation is the shared prompt: a system text, then turns ending on a
// user message, about kib KiB of text in all (as many turns as make the
// chat body's messages reach kib KiB, as the bench always sent).
func conversation(kib int) (system string, turns [][2]string) {
	system = "You are a helpful coding assistant."
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 8)
	size := len(`{"role":"system","content":"` + system + `"}`)
	for i := 0; size < kib<<10; i++ {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		text := filler + strconv.Itoa(i)
		turns = append(turns, [2]string{role, text})
		size += 1 + len(`{"role":"`+role+`","content":"`+text+`"}`)
	}
	if len(turns)%2 == 0 { // end on a user message
		turns = append(turns, [2]string{"user", "and now?"})
	}
	return system, turns
}

// chatBodies returns a non-stream and a stream chat body of about kib KiB.
// The stream body asks for the usage chunk so every target relays the same
// events (copilot-proxy asks for it anyway, for accounting).
func chatBodies(kib int) (plain, stream []byte) {
	return chatBodiesFor("gpt-4o", kib)
}

func chatBodiesFor(model string, kib int) (plain, stream []byte) {
	system, turns := conversation(kib)
	msgs := []string{`{"role":"system","content":` + strconv.Quote(system) + `}`}
	for _, t := range turns {
		msgs = append(msgs, `{"role":"`+t[0]+`","content":`+strconv.Quote(t[1])+`}`)
	}
	m := strings.Join(msgs, ",")
	plain = []byte(`{"model":"` + model + `","temperature":0.2,"messages":[` + m + `]}`)
	stream = []byte(`{"model":"` + model + `","stream":true,"stream_options":{"include_usage":true},"temperature":0.2,"messages":[` + m + `]}`)
	return plain, stream
}

// responsesBodies are /v1/responses bodies: instructions and input messages.
func responsesBodies(model string, kib int) (plain, stream []byte) {
	system, turns := conversation(kib)
	items := make([]string, 0, len(turns))
	for _, t := range turns {
		items = append(items, `{"role":"`+t[0]+`","content":`+strconv.Quote(t[1])+`}`)
	}
	in := strings.Join(items, ",")
	plain = []byte(`{"model":"` + model + `","instructions":` + strconv.Quote(system) + `,"input":[` + in + `]}`)
	stream = []byte(`{"model":"` + model + `","stream":true,"instructions":` + strconv.Quote(system) + `,"input":[` + in + `]}`)
	return plain, stream
}

// messagesBodies are /v1/messages bodies: system, messages and max_tokens.
func messagesBodies(model string, kib int) (plain, stream []byte) {
	system, turns := conversation(kib)
	msgs := make([]string, 0, len(turns))
	for _, t := range turns {
		msgs = append(msgs, `{"role":"`+t[0]+`","content":`+strconv.Quote(t[1])+`}`)
	}
	m := strings.Join(msgs, ",")
	plain = []byte(`{"model":"` + model + `","max_tokens":1024,"system":` + strconv.Quote(system) + `,"messages":[` + m + `]}`)
	stream = []byte(`{"model":"` + model + `","max_tokens":1024,"stream":true,"system":` + strconv.Quote(system) + `,"messages":[` + m + `]}`)
	return plain, stream
}

// endpoints returns chat (always first) and, with apis, the Responses and
// Anthropic Messages APIs: native (gpt-5-codex is served at /responses
// only; claude-sonnet-4-5, Anthropic's id that copilot-proxy maps to
// Copilot's claude-sonnet-4.5, at /v1/messages) and translated through chat
// completions (gpt-4o, a chat-only model).
func endpoints(kib int, apis bool) []*endpoint {
	chat := &endpoint{name: "chat", title: "chat completions (gpt-4o)", model: "gpt-4o", native: true,
		proxyPath: "/v1/chat/completions", directPath: "/chat/completions"}
	chat.proxyPlain, chat.proxyStream = chatBodies(kib)
	chat.directPlain, chat.directStream = chat.proxyPlain, chat.proxyStream
	eps := []*endpoint{chat}
	if !apis {
		return eps
	}
	resp := &endpoint{name: "responses", title: "/v1/responses native (gpt-5-codex)", model: "gpt-5-codex", native: true,
		proxyPath: "/v1/responses", directPath: "/responses"}
	resp.proxyPlain, resp.proxyStream = responsesBodies(resp.model, kib)
	resp.directPlain, resp.directStream = resp.proxyPlain, resp.proxyStream
	respT := &endpoint{name: "responses-to-chat", title: "/v1/responses → chat (gpt-4o)", model: "gpt-4o",
		proxyPath: "/v1/responses"}
	respT.proxyPlain, respT.proxyStream = responsesBodies(respT.model, kib)
	msg := &endpoint{name: "messages", title: "/v1/messages native (claude-sonnet-4-5)", model: "claude-sonnet-4-5", native: true,
		proxyPath: "/v1/messages", directPath: "/v1/messages", anthropic: true}
	msg.proxyPlain, msg.proxyStream = messagesBodies(msg.model, kib)
	msg.directPlain, msg.directStream = messagesBodies("claude-sonnet-4.5", kib)
	msgT := &endpoint{name: "messages-to-chat", title: "/v1/messages → chat (gpt-4o)", model: "gpt-4o",
		proxyPath: "/v1/messages", anthropic: true}
	msgT.proxyPlain, msgT.proxyStream = messagesBodies(msgT.model, kib)
	return append(eps, resp, respT, msg, msgT)
}

// request returns the URL and body of a call to ep through t.
func (ep *endpoint) request(t *target, stream bool) (url string, body []byte) {
	switch {
	case t.name == "direct", t.name == relayTarget: // the relay passes bytes to the fake
		url, body = t.url+ep.directPath, ep.directPlain
		if stream {
			body = ep.directStream
		}
	case t.name == "baseline":
		url, body = t.url+ep.proxyPath, ep.directPlain
		if stream {
			body = ep.directStream
		}
	default:
		url, body = t.url+ep.proxyPath, ep.proxyPlain
		if stream {
			body = ep.proxyStream
		}
	}
	return url, body
}
