package api

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/internal/mutation"
)

// diffCases are bodies where the targeted scan could plausibly differ from
// encoding/json: syntax corners, key spelling, duplicates, types, nesting.
var diffCases = []string{
	`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"assistant","content":"x"},{"role":"tool","content":"y"}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:,"}}]}],"stream":true}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"input_image"}]},{"role":"user","content":"x"}]}`,
	`{"model":"m","messages":[{"role":"user","CONTENT":[{"type":"image"}]},{"role":"user","content":"x"}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"imag\u0065"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"TYPE":"image"},5]}]}`,
	`{"model":"m","messages":[],"stream":true,"stream_options":null}`,
	`{"model":"m","messages":"no"}`, `[]`, `null`, `{"model":1}`, `{"model":"m","messages":[{"role":"user"}],"model":"n"}`,
	"{\"model\":\"\\u0000\",\"messages\":[{}]}", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}`,
	`{"model":"claude-x","MODEL":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","ſtream":true,"messages":[{"role":"user"}]}`,
	`{"model":"m","\u006dessages":[{"role":"user"}]}`,
	`{"model":"m","messages":[{"role":"user","Role":"tool"}]}`,
	`{"model":"m","messages":[{"Role":"tool"},{"role":"user"}]}`,
	`{"model":"m","messages":[{"role":"user","role":"tool"}]}`,
	`{"model":"m","messages":[{"role":null}]}`,
	`{"model":"m","messages":[null]}`,
	`{"model":"m","messages":[{"role":1}]}`,
	`{"model":"m","messages":[1,{"role":"user"}]}`,
	`{"model":"m","messages":[{"role":"us\u0065r"}]}`,
	`{"model":"m","messages":[{"role":"user"}],"stream_options":{"include_usage":"yes"}}`,
	`{"model":"m","messages":[{"role":"user"}],"stream_options":{"INCLUDE_USAGE":true}}`,
	`{"model":"m","messages":[{"role":"user"}],"stream_options":{"INCLUDE_USAGE":1}}`,
	`{"model":"m","messages":[{"role":"user"}],"stream_options":{"include_usage":true,"include_usage":false}}`,
	`{"model":"m","messages":[{"role":"user"}],"stream_options":{"include_usage":null}}`,
	`{"model":"m","messages":[{"role":"user"}],"stream_options":[]}`,
	`{"model":"m","messages":[{"role":"user"}],"stream_options":"x"}`,
	`{"model":"m","messages":[{"role":"user"}],"stream":null}`,
	`{"model":"m","messages":[{"role":"user"}],"stream":1}`,
	`{"model":"","messages":[{"role":"user"}]}`,
	`{"model":null,"messages":[{"role":"user"}]}`,
	`{"model":"m\xff","messages":[{"role":"\xffx"}]}`,
	`{"mod\xffel":"m","messages":[{"role":"user"}]}`,
	`{"model":"m","messages":null}`,
	`{"model":"m","messages":[{"role":"user"}]} x`,
	`{"model":"m","messages":[{"role":"user"}]}}`,
	`{"model":"m","messages":[{"role":"user"},]}`,
	`{"model":"m","messages":[{"role":"user"}],}`,
	`{"model":"m","x":01,"messages":[{"role":"user"}]}`,
	`{"model":"m","x":-0.5e+3,"y":[1,2.0,-3E9,true,false,null,{},[]],"messages":[{"role":"user"}]}`,
	`{"model":"m","x":"\ud800\u12","messages":[{"role":"user"}]}`,
	`{"model":"m","x":"\q","messages":[{"role":"user"}]}`,
	"{\"model\":\"m\",\"x\":\"a\tb\",\"messages\":[{\"role\":\"user\"}]}",
	` {"model":"m","messages":[{"role":"user"}]} `,
	"\v{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}\u00a0",
	`{"model":"m","messages":[{"role":"user"}],"x":tru}`,
	`{"model":"m","messages":[{"role":"user"}],"x":-}`,
	`{"model":"m","messages":[{"role":"user"}],"x":1.}`,
	`{"model":"m","messages":[{"role":"user"}],"x":1e}`,
	`{}`, `{"a":1}`, `{`, `{"model"`, `{"model":`, `{"model":"m"`, `"str"`, `12`,
	`{"model":"m","messages":[{"role":"user"}],"stream":true,"Stream_Options":{}}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}],"messages":[{"role":"user"}]}`,
	// Output limits: precedence, null, repeats, bad values, other spellings.
	`{"model":"m","messages":[{"role":"user"}],"max_tokens":100}`,
	`{"model":"m","messages":[{"role":"user"}],"max_tokens":100,"max_completion_tokens":50}`,
	`{"model":"m","messages":[{"role":"user"}],"max_completion_tokens":null,"max_tokens":7}`,
	`{"model":"m","messages":[{"role":"user"}],"max_tokens":1,"max_tokens":2}`,
	`{"model":"m","messages":[{"role":"user"}],"max_tokens":-1}`,
	`{"model":"m","messages":[{"role":"user"}],"max_tokens":1.5}`,
	`{"model":"m","messages":[{"role":"user"}],"max_tokens":"9"}`,
	`{"model":"m","messages":[{"role":"user"}],"max_completion_tokens":1e3,"max_tokens":5}`,
	`{"model":"m","messages":[{"role":"user"}],"MAX_TOKENS":100}`,
	`{"model":"m","messages":[{"role":"user"}],"max_tokens":99999999999999999999}`,
	// Output-limit keys written with escapes: read as encoding/json reads them.
	`{"model":"m","messages":[{"role":"user"}],"max\u005ftokens":100}`,
	`{"model":"m","messages":[{"role":"user"}],"\u006dax_completion_tokens":3,"max_tokens":9}`,
	`{"model":"m","messages":[{"role":"user"}],"max_tokens":1,"max\u005ftokens":2}`,
	`{"model":"m","messages":[{"role":"user"}],"max\u005ftokens":2,"max_tokens":null}`,
	`{"model":"m","messages":[{"role":"user"}],"max_tokens\u00e9":5,"max_tok\u00e9ns":6}`,
}

func checkSame(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := ParseChatRequest(body)
	want, wantErr := parseChatRequestRef(body)
	if !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("body %q:\n error %+v\n want  %+v", body, gotErr, wantErr)
	}
	if wantErr == nil && got != want {
		t.Fatalf("body %q:\n got  %+v\n want %+v", body, got, want)
	}
}

func TestParseChatRequestMatchesReference(t *testing.T) {
	t.Parallel()
	for _, c := range diffCases {
		checkSame(t, []byte(c))
	}
	// Nesting at and beyond encoding/json's limit.
	for _, depth := range []int{maxDepth - 2, maxDepth - 1, maxDepth, maxDepth + 1} {
		deep := `{"model":"m","messages":[{"role":"user"}],"x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
		checkSame(t, []byte(deep))
	}
}

// TestParseChatRequestMutations is a deterministic fuzz: every case and a
// large body, mutated at random (bytes replaced, inserted, deleted, cut),
// must be judged alike by both implementations.
func TestParseChatRequestMutations(t *testing.T) {
	t.Parallel()
	seeds := append([]string{benchBody(5)}, diffCases...)
	n := 20000
	if testing.Short() {
		n = 2000
	}
	m := mutation.Mutator{Rand: rand.New(rand.NewPCG(1, 2)), Alphabet: []byte(`{}[]":,\ ntrufalse0123456789.-+eEu"abcdefmodelstreamessagesrolecontentimage_urltypeMODELROLEmax_tokens` + "\t\n\xff\x00"), CutOneIn: 1}
	for range n {
		b := m.Mutate(seeds[m.Rand.IntN(len(seeds))])
		checkSame(t, b)
	}
}

// TestParseChatRequestStringWords puts each byte class the string scan's
// eight-byte fast path must stop at (the closing quote, an escape, a
// control byte, UTF-8, bad UTF-8) and some it must not (DEL, '~', ' ') at
// every offset across two words of a message's content: the scan and
// encoding/json must judge every body alike.
func TestParseChatRequestStringWords(t *testing.T) {
	t.Parallel()
	specials := []string{`"`, `\n`, `\u00e9`, `\x`, "\x00", "\x1f", "\x7f", "~", " ", "é", "\xff", `\"`, `\\`}
	for _, sp := range specials {
		for at := range 17 {
			for _, tail := range []string{"", "abcdefghij"} {
				content := strings.Repeat("a", at) + sp + tail
				checkSame(t, []byte(`{"model":"m","messages":[{"role":"user","content":"`+content+`"}]}`))
			}
		}
	}
}

// FuzzParseChatRequestReference: the targeted scan and the encoding/json
// implementation it replaced agree on every input.
func FuzzParseChatRequestReference(f *testing.F) {
	for _, c := range diffCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkSame(t, body) })
}

func benchBody(n int) string {
	var msgs []string
	for i := range n {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		msgs = append(msgs, `{"role":"`+role+`","content":"`+strings.Repeat("lorem ipsum ", 40)+`"}`)
	}
	return `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"temperature":0.2,` +
		`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"messages":[` + strings.Join(msgs, ",") + `,{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`
}

// BenchmarkParseChatRequestReference is the replaced implementation on the
// body of BenchmarkParseChatRequest, for comparison.
func BenchmarkParseChatRequestReference(b *testing.B) {
	body := []byte(benchBody(20))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, e := parseChatRequestRef(body); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkParseChatRequestScan(b *testing.B) {
	body := []byte(benchBody(20))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, e := ParseChatRequest(body); e != nil {
			b.Fatal(e)
		}
	}
}
