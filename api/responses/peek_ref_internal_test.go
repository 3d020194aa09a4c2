package responses

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/internal/mutation"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// peekRequestRef is PeekRequest as it was built on encoding/json (a
// validity pass, a token decoder over the members, then the input items
// decoded whole): the reference the one-pass walk must agree with. It uses
// nothing of api.WalkObject's, so a walker bug cannot hide on both sides.
func peekRequestRef(body []byte) (Peek, *api.Error) {
	var p Peek
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return p, api.NewError(api.CodeInvalidJSON, "The request body is empty; expected a JSON object.")
	case !json.Valid(trimmed):
		return p, api.NewError(api.CodeInvalidJSON, "The request body is not valid JSON.")
	case trimmed[0] != '{':
		return p, api.NewError(api.CodeInvalidRequest, "The request body must be a JSON object.")
	}
	w, extra, repeated := peekMembersRef(trimmed)
	if repeated != "" {
		return p, api.NewError(api.CodeInvalidRequest, "The request body has the field \""+repeated+"\" more than once.").WithParam(repeated)
	}
	if e := guardKeys(extra); e != nil {
		return p, e
	}
	if e := w.scalars(&p); e != nil {
		return p, e
	}
	if isAbsent(w.input) {
		return p, api.NewError(api.CodeMissingField, "Missing required parameter: 'input'.").WithParam("input")
	}
	if w.input[0] == '"' {
		p.LastRole = "user"
		return p, nil
	}
	var items []peekItem
	if w.input[0] != '[' || json.Unmarshal(w.input, &items) != nil {
		return p, api.NewError(api.CodeInvalidRequest, "\"input\" must be a string or an array of items.").WithParam("input")
	}
	if n := len(items); n > 0 && (items[n-1].Type == "" || items[n-1].Type == ItemMessage) {
		p.LastRole = items[n-1].Role
	}
	if bytes.Contains(w.input, inputImage) {
		p.HasImage = anyImage(items)
	}
	return p, nil
}

// peekMembersRef reads the members of obj (a valid JSON object) with a
// token decoder: the four fields PeekRequest reads (the last of a repeat),
// every other member in extra, and the first of the four given twice.
func peekMembersRef(obj []byte) (w peekWire, extra map[string]json.RawMessage, repeated string) {
	slots := map[string]*[]byte{"model": &w.model, "stream": &w.stream, "max_output_tokens": &w.maxOut, "input": &w.input}
	extra = map[string]json.RawMessage{}
	dec := json.NewDecoder(bytes.NewReader(obj))
	_, _ = dec.Token() // {
	for dec.More() {
		tok, _ := dec.Token()
		key, _ := tok.(string)
		var v json.RawMessage
		_ = dec.Decode(&v)
		slot, ok := slots[key]
		switch {
		case !ok:
			extra[key] = v
			continue
		case *slot != nil && repeated == "":
			repeated = key
		}
		*slot = v
	}
	return w, extra, repeated
}

// peekCases are bodies where a hand-written walk could plausibly differ
// from encoding/json: syntax corners, key spelling and repeats, item
// shapes, escapes, nulls.
var peekCases = []string{
	`{"model":"gpt-5","input":"hi"}`,
	`{"model":"gpt-5","stream":true,"max_output_tokens":100,"input":[{"role":"user","content":"x"}]}`,
	`{"model":"m","input":[{"type":"message","role":"assistant","content":[]},{"type":"function_call_output","call_id":"c","output":"o"}]}`,
	`{"model":"m","input":[{"type":"message","role":"user"},null]}`,
	`{"model":"m","input":[{"TYPE":"message","ROLE":"user"}]}`,
	`{"model":"m","input":[{"role":"user","Role":"assistant"}]}`,
	`{"model":"m","input":[{"role":"user","role":null}]}`,
	`{"model":"m","input":[{"role":5}]}`,
	`{"model":"m","input":[{"type":["x"]},{"role":"user"}]}`,
	`{"model":"m","input":["x"]}`, `{"model":"m","input":[1]}`, `{"model":"m","input":[[]]}`, `{"model":"m","input":[true]}`,
	`{"model":"m","input":[]}`, `{"model":"m","input":{}}`, `{"model":"m","input":5}`, `{"model":"m","input":null}`, `{"model":"m"}`,
	`{"model":"m","input":[{"role":"us\u0065r"}]}`, `{"model":"m","input":[{"r\u006fle":"user"}]}`,
	`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:,"}]}]}`,
	`{"model":"m","input":[{"type":"function_call_output","output":[{"type":"input_image"}]}]}`,
	`{"model":"m","input":[{"role":"user","content":"mentions \"input_image\" in text"}]}`,
	`{"model":"m","input":"x","model":"n"}`, `{"model":"m","input":"x","MODEL":"n"}`, `{"model":"m","input":"x","Input":"y","Stream":true}`,
	`{"mod\u0065l":"m","input":"x"}`, `{"model":"m","input":"x","str\u0065am":true,"stream":false}`,
	`{"model":"","input":"x"}`, `{"model":5,"input":"x"}`, `{"model":null,"input":"x"}`,
	`{"model":"m","input":"x","stream":"yes"}`, `{"model":"m","input":"x","stream":null}`,
	`{"model":"m","input":"x","max_output_tokens":-1}`, `{"model":"m","input":"x","max_output_tokens":1.5}`, `{"model":"m","input":"x","max_output_tokens":null}`,
	`{"model":"m","input":"x"} x`, `{"model":"m","input":"x",}`, `{"model":"m" "input":"x"}`, `[]`, `null`, `"s"`, `12`, `{}`, `{`, ``, `   `,
	"{\"model\":\"m\xff\",\"input\":[{\"role\":\"\xffuser\"}]}", "{\"model\":\"m\",\"input\":[{\"role\":\"user\x01\"}]}",
	`{"model":"m","input":[{"type":"message","role":"user"}],"ſtream":true}`,
}

func checkPeekSame(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := PeekRequest(body)
	want, wantErr := peekRequestRef(body)
	if !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("body %q:\n error %+v\n want  %+v", body, gotErr, wantErr)
	}
	if wantErr == nil && got != want {
		t.Fatalf("body %q:\n got  %+v\n want %+v", body, got, want)
	}
}

func TestPeekRequestMatchesReference(t *testing.T) {
	t.Parallel()
	for _, c := range peekCases {
		checkPeekSame(t, []byte(c))
	}
}

// TestPeekRequestMutations is a deterministic fuzz: Codex's real bodies
// and every case, mutated at random, must be judged alike by both.
func TestPeekRequestMutations(t *testing.T) {
	t.Parallel()
	seeds := append([]string(nil), peekCases...)
	for _, f := range []string{"testdata/codex_request.json", "testdata/codex_function_roundtrip.json", "testdata/image_request.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, string(b))
	}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	m := mutation.Mutator{Rand: rand.New(rand.NewPCG(3, 4)), Alphabet: []byte(`{}[]":,\ ntrufalse0123456789.-eu"modelstreaminputroletypeusermessageMODELROLETYPE_image` + "\t\n\xff"), CutOneIn: 8}
	for range n {
		b := m.Mutate(seeds[m.Rand.IntN(len(seeds))])
		checkPeekSame(t, b)
	}
}
