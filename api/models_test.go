package api_test

import (
	"encoding/json"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
)

func TestMapModels(t *testing.T) {
	t.Parallel()
	body := `{"object":"list","data":[
		{"id":"gpt-4o","vendor":"Azure OpenAI","capabilities":{"type":"chat","limits":{"max_output_tokens":4096}},"billing":{"multiplier":0}},
		{"id":"x","owned_by":"someone","created":1700000000,"vendor":"V"},
		{"id":"e","vendor":"","capabilities":{"type":"embeddings"}},
		{"id":"gpt-4o","vendor":"duplicate"},
		{"name":"no id"},
		{"id":7},
		null
	]}`
	models, err := api.MapModels([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, owner, typ string
		created        int64
	}{
		{"gpt-4o", "azure-openai", "chat", 0},
		{"x", "someone", "", 1700000000},
		{"e", api.DefaultOwner, "embeddings", 0},
	}
	if len(models) != len(want) {
		t.Fatalf("%d models, want %d", len(models), len(want))
	}
	for i, w := range want {
		m := models[i]
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(m.Raw, &fields); err != nil {
			t.Fatal(err)
		}
		var id, object, owner string
		var created int64
		_ = json.Unmarshal(fields["id"], &id)
		_ = json.Unmarshal(fields["object"], &object)
		_ = json.Unmarshal(fields["owned_by"], &owner)
		_ = json.Unmarshal(fields["created"], &created)
		if m.ID != w.id || id != w.id || object != "model" || owner != w.owner || m.OwnedBy != w.owner || m.Type != w.typ || created != w.created {
			t.Errorf("model %d = %+v raw %s", i, m, m.Raw)
		}
	}
	// Unknown fields survive.
	var first struct {
		Capabilities struct {
			Limits struct {
				Max int `json:"max_output_tokens"`
			} `json:"limits"`
		} `json:"capabilities"`
		Billing map[string]any `json:"billing"`
	}
	_ = json.Unmarshal(models[0].Raw, &first)
	if first.Capabilities.Limits.Max != 4096 || first.Billing == nil {
		t.Errorf("fields lost: %s", models[0].Raw)
	}
	// The list marshals as the client sees it.
	out, err := json.Marshal(api.NewModelList(models[:1]))
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Object string            `json:"object"`
		Data   []json.RawMessage `json:"data"`
	}
	if json.Unmarshal(out, &list) != nil || list.Object != "list" || len(list.Data) != 1 {
		t.Errorf("list = %s", out)
	}
}

func TestMapModelsErrors(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`<html>`, `{"object":"list"}`, `{"data":"x"}`} {
		if _, err := api.MapModels([]byte(body)); err == nil {
			t.Errorf("MapModels(%s) succeeded", body)
		}
	}
	models, err := api.MapModels([]byte(`{"data":[]}`))
	if err != nil || len(models) != 0 {
		t.Errorf("empty list: %v %v", models, err)
	}
	out, _ := json.Marshal(api.NewModelList(nil))
	if string(out) != `{"object":"list","data":[]}` {
		t.Errorf("empty list marshals as %s", out)
	}
}

func TestModelEndpoints(t *testing.T) {
	t.Parallel()
	models, err := api.MapModels([]byte(`{"data":[
		{"id":"gpt-4o"},
		{"id":"gpt-5-codex","supported_endpoints":["/responses"]},
		{"id":"claude-sonnet-4.5","supported_endpoints":["/chat/completions","/v1/messages"]},
		{"id":"odd","supported_endpoints":"not a list"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		model, endpoint string
		want            bool
	}{
		{"gpt-4o", api.EndpointChat, true}, {"gpt-4o", api.EndpointResponses, false},
		{"gpt-5-codex", api.EndpointChat, false}, {"gpt-5-codex", api.EndpointResponses, true},
		{"claude-sonnet-4.5", api.EndpointMessages, true}, {"claude-sonnet-4.5", api.EndpointResponses, false},
		{"odd", api.EndpointChat, true}, {"odd", api.EndpointResponses, false},
	}
	byID := map[string]api.Model{}
	for _, m := range models {
		byID[m.ID] = m
	}
	for _, tt := range tests {
		if got := byID[tt.model].Supports(tt.endpoint); got != tt.want {
			t.Errorf("%s supports %s = %v, want %v", tt.model, tt.endpoint, got, tt.want)
		}
	}
}
