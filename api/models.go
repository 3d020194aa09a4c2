package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// DefaultOwner is owned_by for a model whose Copilot entry names no vendor.
const DefaultOwner = "github-copilot"

// Model is one model in the OpenAI shape. Raw is the JSON object sent to
// clients: Copilot's entry with every field it had (capabilities, limits,
// billing, policy, ...) plus the OpenAI fields id, object, created and
// owned_by. The other fields are read from it for the gateway's own use.
type Model struct {
	ID      string
	OwnedBy string
	// Type is capabilities.type ("chat", "embeddings", ...), "" when absent.
	Type string
	// Endpoints is supported_endpoints ("/chat/completions", "/responses",
	// "/v1/messages"); nil when the entry lists none, which means chat only.
	Endpoints []string
	// MaxOutputTokens is capabilities.limits.max_output_tokens, 0 when
	// unknown.
	MaxOutputTokens int64
	// Billing is the entry's billing object; nil when it has none.
	Billing *Billing
	Raw     json.RawMessage
}

// Billing is what a Copilot model entry says about its cost, none of it
// documented: the premium-request multiplier of the older scheme and,
// when present, prices in AI credits. Numbers are kept as the decimal text
// Copilot sent, so they can be read exactly (see package credits).
type Billing struct {
	IsPremium  bool        `json:"is_premium"`
	Multiplier json.Number `json:"multiplier"` // "" when absent
	Pricing    *Pricing    `json:"pricing"`
}

// Pricing is a model's price per token kind, in Unit (the one known unit
// is "ai_credits_per_million_tokens").
type Pricing struct {
	Unit        string      `json:"unit"`
	Input       json.Number `json:"input"`
	CachedInput json.Number `json:"cached_input"`
	Output      json.Number `json:"output"`
}

// Paths of the Copilot endpoints a model may support.
const (
	EndpointChat      = "/chat/completions"
	EndpointResponses = "/responses"
	EndpointMessages  = "/v1/messages"
)

// Supports reports whether the model is served at endpoint: a model that
// lists no endpoints is served at EndpointChat only.
func (m Model) Supports(endpoint string) bool {
	if len(m.Endpoints) == 0 {
		return endpoint == EndpointChat
	}
	for _, e := range m.Endpoints {
		if e == endpoint {
			return true
		}
	}
	return false
}

// MarshalJSON writes Raw, so a []Model marshals as the client sees it.
func (m Model) MarshalJSON() ([]byte, error) {
	if len(m.Raw) == 0 {
		return []byte("null"), nil
	}
	return m.Raw, nil
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// NewModelList wraps models in the OpenAI list object.
func NewModelList(models []Model) ModelList {
	if models == nil {
		models = []Model{}
	}
	return ModelList{Object: "list", Data: models}
}

// MapModels maps the body of Copilot's GET /models ({"data":[...]}) to the
// OpenAI shape, keeping every Copilot field. Per entry: "object" is set to
// "model"; "created" is kept when Copilot sends an integer, else 0 (Copilot
// has no creation time, SDKs require an integer, and a constant keeps the
// list stable across refreshes); "owned_by" is kept when present, else the
// vendor as a lowercase slug ("Azure OpenAI" -> "azure-openai"), else
// "github-copilot". Entries without a string id are dropped, and so is a
// repeated id (the first one wins), so ids are unique.
func MapModels(body []byte) ([]Model, error) {
	var top struct {
		Data []map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, errors.New("model list is not valid JSON: " + describeJSONError(err))
	}
	if top.Data == nil {
		return nil, errors.New(`model list has no "data" array`)
	}
	out := make([]Model, 0, len(top.Data))
	seen := make(map[string]bool, len(top.Data))
	for _, fields := range top.Data {
		if fields == nil {
			continue
		}
		var id string
		if json.Unmarshal(fields["id"], &id) != nil || id == "" || seen[id] {
			continue
		}
		seen[id] = true
		m := Model{ID: id}

		fields["object"] = json.RawMessage(`"model"`)
		var created int64
		if json.Unmarshal(fields["created"], &created) != nil {
			fields["created"] = json.RawMessage(`0`)
		}
		var owner string
		if json.Unmarshal(fields["owned_by"], &owner) != nil || owner == "" {
			var vendor string
			_ = json.Unmarshal(fields["vendor"], &vendor)
			owner = slug(vendor)
			if owner == "" {
				owner = DefaultOwner
			}
			b, _ := json.Marshal(owner)
			fields["owned_by"] = b
		}
		m.OwnedBy = owner
		_ = json.Unmarshal(fields["supported_endpoints"], &m.Endpoints) // absent or malformed: chat only
		if raw, ok := fields["capabilities"]; ok && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			var caps struct {
				Type   string `json:"type"`
				Limits struct {
					MaxOutputTokens int64 `json:"max_output_tokens"`
				} `json:"limits"`
			}
			_ = json.Unmarshal(raw, &caps)
			m.Type, m.MaxOutputTokens = caps.Type, max(caps.Limits.MaxOutputTokens, 0)
		}
		m.Billing = readBilling(fields["billing"])
		raw, err := json.Marshal(fields)
		if err != nil {
			return nil, errors.New("model list entry " + id + " could not be encoded")
		}
		m.Raw = raw
		out = append(out, m)
	}
	return out, nil
}

// readBilling decodes a billing object; nil when absent or malformed (a
// model whose cost cannot be read is priced as unknown, not refused).
func readBilling(raw json.RawMessage) *Billing {
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		return nil
	}
	var b Billing
	if json.Unmarshal(raw, &b) != nil {
		return nil
	}
	return &b
}

// slug lowercases s and joins its alphanumeric runs with '-'.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}
