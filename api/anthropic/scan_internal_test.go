package anthropic

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzArrayElements: on any valid JSON array the splitter finds the same
// elements as encoding/json. (Objects are split by api.WalkObject, fuzzed
// in package api.)
func FuzzArrayElements(f *testing.F) {
	for _, s := range []string{`{}`, ` { "a" : [1, {"b":"]}\"\\"}], "c":"x\"y", "d" : true , "e":-1.5e3,"a":null} `,
		`{"mod\u0065l":"m","k":{"x":[[],{}]}}`, `{"s":"\\\\","t":"\\\""}`, `[ ]`, `[1,"2",[3],{"4":5},null]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.TrimSpace(data)
		if !json.Valid(data) {
			return
		}
		if data[0] == '[' {
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
