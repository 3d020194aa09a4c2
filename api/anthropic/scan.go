package anthropic

import (
	"bytes"
	"encoding/json"
)

// The splitters below walk JSON that json.Valid has accepted, so they only
// track strings and nesting: a body is checked once by the fast validator,
// then only the few values the gateway needs are decoded.

// objectMembers calls fn with the key (unescaped) and raw value of each
// member of a valid JSON object.
func objectMembers(obj []byte, fn func(key string, value []byte)) {
	i := skipWS(obj, 1) // after '{'
	for i < len(obj) && obj[i] == '"' {
		end := endString(obj, i)
		key := unquote(obj[i:end])
		i = skipWS(obj, end)
		i = skipWS(obj, i+1) // after ':'
		vend := skipValue(obj, i)
		fn(key, obj[i:vend])
		i = skipWS(obj, vend)
		if i < len(obj) && obj[i] == ',' {
			i = skipWS(obj, i+1)
		}
	}
}

// arrayElements calls fn with each raw element of a valid JSON array.
func arrayElements(arr []byte, fn func(elem []byte)) {
	i := skipWS(arr, 1) // after '['
	for i < len(arr) && arr[i] != ']' {
		end := skipValue(arr, i)
		fn(arr[i:end])
		i = skipWS(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipWS(arr, i+1)
		}
	}
}

// unquote is a JSON string's value as encoding/json decodes it: escapes
// decoded (an escaped key, "mod\u0065l", is the key the upstream sees) and
// invalid UTF-8 replaced.
func unquote(quoted []byte) string {
	inner := quoted[1 : len(quoted)-1]
	if isPlainASCII(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(quoted, &s)
	return s
}

// skipValue returns the index just after the value that starts at i.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return endString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = endString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) && !isDelimiter(b[i]) { // a number or a literal
		i++
	}
	return i
}

// endString returns the index just after the string that starts at i.
func endString(b []byte, i int) int {
	for j := i + 1; j < len(b); {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b)
		}
		j += k
		backslashes := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return j + 1
		}
		j++
	}
	return len(b)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func isDelimiter(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// isPlainASCII: no escapes and no bytes outside ASCII.
func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}
