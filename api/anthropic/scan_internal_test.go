package anthropic

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzObjectMembers: on any valid JSON object the splitter finds the same
// members as encoding/json (the last of repeated keys), and on any valid
// array the same elements.
func FuzzObjectMembers(f *testing.F) {
	for _, s := range []string{`{}`, ` { "a" : [1, {"b":"]}\"\\"}], "c":"x\"y", "d" : true , "e":-1.5e3,"a":null} `,
		`{"mod\u0065l":"m","k":{"x":[[],{}]}}`, `{"s":"\\\\","t":"\\\""}`, `[ ]`, `[1,"2",[3],{"4":5},null]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.TrimSpace(data)
		if !json.Valid(data) {
			return
		}
		switch data[0] {
		case '{':
			var want map[string]json.RawMessage
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			got := map[string]json.RawMessage{}
			objectMembers(data, func(k string, v []byte) { got[k] = v })
			if len(got) != len(want) {
				t.Fatalf("%s: %d members, want %d", data, len(got), len(want))
			}
			for k, v := range want {
				if !bytes.Equal(got[k], v) {
					t.Fatalf("%s: member %q = %s, want %s", data, k, got[k], v)
				}
			}
		case '[':
			var want []json.RawMessage
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			var got [][]byte
			arrayElements(data, func(e []byte) { got = append(got, e) })
			if len(got) != len(want) {
				t.Fatalf("%s: %d elements, want %d", data, len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("%s: element %d = %s, want %s", data, i, got[i], want[i])
				}
			}
		}
	})
}
