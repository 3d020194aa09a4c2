package api

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzWalk: WalkObject and WalkArray judge validity exactly as json.Valid
// does and, on a valid object or array, find the members (the last of a
// repeated key) and elements encoding/json finds, keys decoded alike.
func FuzzWalk(f *testing.F) {
	for _, s := range []string{`{}`, ` { "a" : [1, {"b":"]}\"\\"}], "c":"x\"y", "d" : true , "e":-1.5e3,"a":null} `,
		`{"mod\u0065l":"m","k":{"x":[[],{}]}}`, `{"s":"\\\\","t":"\""}`, `[ ]`, `[1,"2",[3],{"4":5},null]`,
		"{\"\xff\":1}", `{"a":1,}`, `[1,]`, `{"a" 1}`, `"x"`, `12`, ``, `{"a":[}`, `01`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkWalk(t, data)
	})
}

func checkWalk(t *testing.T, data []byte) {
	t.Helper()
	got := map[string]json.RawMessage{}
	valid, isObject := WalkObject(data, func(m Member) { got[m.KeyString()] = m.Value })
	var elems [][]byte
	validA, isArray := WalkArray(data, func(e []byte) { elems = append(elems, e) })
	want := json.Valid(data)
	if valid != want || validA != want {
		t.Fatalf("%q: valid %v/%v, json.Valid %v", data, valid, validA, want)
	}
	if !want {
		return
	}
	trimmed := bytes.TrimSpace(data)
	if isObject != (trimmed[0] == '{') || isArray != (trimmed[0] == '[') {
		t.Fatalf("%q: object %v, array %v", data, isObject, isArray)
	}
	if isObject {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if len(m) != len(got) {
			t.Fatalf("%q: %d members, want %d", data, len(got), len(m))
		}
		for k, v := range m {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("%q: member %q = %s, want %s", data, k, got[k], v)
			}
		}
	}
	if isArray {
		var a []json.RawMessage
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatal(err)
		}
		if len(a) != len(elems) {
			t.Fatalf("%q: %d elements, want %d", data, len(elems), len(a))
		}
		for i := range a {
			if !bytes.Equal(elems[i], a[i]) {
				t.Fatalf("%q: element %d = %s, want %s", data, i, elems[i], a[i])
			}
		}
	}
}

func TestWalk(t *testing.T) {
	t.Parallel()
	for _, s := range diffCases {
		checkWalk(t, []byte(s))
	}
	checkWalk(t, []byte(benchBody(5)))
}

// KeyEqualFold matches a key to a field name as encoding/json matches a
// key to a struct field (Unicode case folding, escapes decoded), and
// DecodedKey is the key encoding/json decodes.
func TestMemberKeyEqualFold(t *testing.T) {
	t.Parallel()
	for _, key := range []string{`"usage"`, `"USAGE"`, `"Usage"`, `"us\u0061ge"`, `"U\u0053AGE"`, `"usagE"`,
		`"uſage"`, `"usage "`, `"usag"`, `"usages"`, `"\u00fcsage"`, `"type"`, `""`} {
		var target struct {
			Usage *int `json:"usage"`
		}
		want := json.Unmarshal([]byte(`{`+key+`:1}`), &target) == nil && target.Usage != nil
		WalkObject([]byte(`{`+key+`:1}`), func(m Member) {
			if got := m.KeyEqualFold("usage"); got != want {
				t.Errorf("%s: KeyEqualFold(usage) = %v, want %v", key, got, want)
			}
			var decoded string
			_ = json.Unmarshal([]byte(key), &decoded)
			if string(m.DecodedKey()) != decoded {
				t.Errorf("%s: DecodedKey %q, want %q", key, m.DecodedKey(), decoded)
			}
		})
	}
}

// ObjectMembers gives the three body errors every request parser shares,
// and the members only of a valid object.
func TestObjectMembers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		body    string
		code    Code
		members int
	}{
		{"", CodeInvalidJSON, 0}, {" \n", CodeInvalidJSON, 0}, {`{"a":`, CodeInvalidJSON, 0}, {`[1`, CodeInvalidJSON, 0},
		{`[]`, CodeInvalidRequest, 0}, {`null`, CodeInvalidRequest, 0}, {`"x"`, CodeInvalidRequest, 0},
		{`{}`, "", 0}, {" {\"a\":1,\"b\":[2]} \n", "", 2},
	} {
		n := 0
		e := ObjectMembers([]byte(tt.body), func(Member) { n++ })
		switch {
		case tt.code == "" && e != nil:
			t.Errorf("%q: %v", tt.body, e)
		case tt.code != "" && (e == nil || e.Code != tt.code || e.HTTPStatus() != 400):
			t.Errorf("%q: %+v, want %s", tt.body, e, tt.code)
		case tt.code == "" && n != tt.members:
			t.Errorf("%q: %d members, want %d", tt.body, n, tt.members)
		}
	}
}
