package copilotfake

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
)

// exampleArgs is the smallest arguments object valid for a tool whose
// parameters (input_schema on /v1/messages) are the JSON Schema schema:
// every required property, recursively, with a placeholder of its type
// and no optional property. It is what the fake's tool calls carry with
// WithAnswer, so that a real client accepts them for its own tools.
//
// Placeholders: const → it; enum → its first value; anyOf / oneOf → the
// first branch; allOf → the branches merged; $ref → the local definition
// it points to; string → "echo demo" for a property named command or cmd,
// else "demo" (a sample for formats such as uri or date-time); array →
// one element of its item type (at least minItems; ["echo", "demo"] for a
// command array of strings); number / integer → 1 within minimum and
// maximum; boolean → false; object → its required properties. A schema
// that does not parse, or does not describe an object, gives {}.
func exampleArgs(schema json.RawMessage) json.RawMessage {
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(schema))
	dec.UseNumber()
	if dec.Decode(&root) != nil {
		return json.RawMessage("{}")
	}
	v, ok := argGen{root: root}.value(root, "", maxSchemaDepth).(map[string]any)
	if !ok {
		return json.RawMessage("{}")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

// maxSchemaDepth bounds the nesting exampleArgs follows (a $ref may point
// to itself); deeper values are null.
const maxSchemaDepth = 32

// argGen generates example values for the subschemas of root.
type argGen struct{ root map[string]any }

// value is the example value of subschema s for a property called name.
func (g argGen) value(s map[string]any, name string, depth int) any {
	if depth <= 0 {
		return nil
	}
	if c, ok := s["const"]; ok {
		return c
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	if ref, ok := s["$ref"].(string); ok {
		return g.value(g.resolve(ref), name, depth-1)
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if branches, ok := s[k].([]any); ok && len(branches) > 0 {
			return g.value(asSchema(branches[0]), name, depth-1)
		}
	}
	if branches, ok := s["allOf"].([]any); ok {
		return g.value(g.mergeAllOf(s, branches), name, depth-1)
	}
	switch schemaType(s) {
	case "object":
		return g.object(s, depth)
	case "array":
		return g.array(s, name, depth)
	case "number", "integer":
		return exampleNumber(s)
	case "boolean":
		return false
	case "null":
		return nil
	}
	return exampleString(s, name)
}

// object is an object with s's required properties.
func (g argGen) object(s map[string]any, depth int) map[string]any {
	props := asSchema(s["properties"])
	out := map[string]any{}
	required, _ := s["required"].([]any)
	for _, r := range required {
		if name, ok := r.(string); ok {
			ps, ok := props[name]
			if !ok {
				ps = s["additionalProperties"]
			}
			out[name] = g.value(asSchema(ps), name, depth-1)
		}
	}
	return out
}

// array is an array of max(1, minItems) elements of s's item type, for a
// property called name.
func (g argGen) array(s map[string]any, name string, depth int) []any {
	items := asSchema(s["items"])
	if isCommand(name) && schemaType(items) == "string" && maxItems(s) >= 2 {
		return []any{"echo", "demo"}
	}
	n := 1
	if m, ok := number(s["minItems"]); ok && m > 1 {
		n = int(m)
	}
	out := make([]any, n)
	for i := range out {
		out[i] = g.value(items, name, depth-1) // a command's words are commands too
	}
	return out
}

// resolve is the subschema a local $ref ("#/$defs/x") points to; {} when
// it points nowhere.
func (g argGen) resolve(ref string) map[string]any {
	rest, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return map[string]any{}
	}
	cur := any(g.root)
	for _, seg := range strings.Split(strings.TrimPrefix(rest, "/"), "/") {
		if seg == "" {
			continue
		}
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		cur = asSchema(cur)[seg]
	}
	return asSchema(cur)
}

// mergeAllOf is s with its allOf branches (or what their $ref points to)
// folded in: their properties and required lists added, their other
// keywords where s has none.
func (g argGen) mergeAllOf(s map[string]any, branches []any) map[string]any {
	out := map[string]any{}
	props := map[string]any{}
	var required []any
	for _, part := range append([]any{s}, branches...) {
		ps := asSchema(part)
		if ref, ok := ps["$ref"].(string); ok {
			ps = g.resolve(ref)
		}
		for k, v := range ps {
			switch k {
			case "allOf":
			case "properties":
				for p, ps := range asSchema(v) {
					props[p] = ps
				}
			case "required":
				r, _ := v.([]any)
				required = append(required, r...)
			default:
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	out["properties"], out["required"] = props, required
	return out
}

// schemaType is s's type: the first one other than "null" when it lists
// several; else object or array from its keywords; else "".
func schemaType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if x, ok := x.(string); ok && x != "null" {
				return x
			}
		}
		if len(t) > 0 {
			return "null"
		}
	}
	switch {
	case s["properties"] != nil || s["required"] != nil:
		return "object"
	case s["items"] != nil:
		return "array"
	}
	return ""
}

// formatSamples are string placeholders for common formats.
var formatSamples = map[string]string{
	"uri": "https://example.com/", "url": "https://example.com/", "iri": "https://example.com/",
	"uri-reference": "https://example.com/", "email": "demo@example.com", "hostname": "example.com",
	"date-time": "2025-01-01T00:00:00Z", "date": "2025-01-01", "time": "00:00:00Z",
	"uuid": "00000000-0000-4000-8000-000000000000", "ipv4": "127.0.0.1", "ipv6": "::1",
}

// exampleString is the string placeholder for a property called name,
// padded to minLength and cut to maxLength.
func exampleString(s map[string]any, name string) string {
	out := "demo"
	if f, ok := formatSamples[stringOf(s["format"])]; ok {
		out = f
	} else if isCommand(name) {
		out = "echo demo"
	}
	if n, ok := number(s["minLength"]); ok && float64(len(out)) < n {
		out += strings.Repeat("o", int(n)-len(out))
	}
	if n, ok := number(s["maxLength"]); ok && float64(len(out)) > n && n >= 0 {
		out = out[:int(n)]
	}
	return out
}

// exampleNumber is 1, moved into [minimum, maximum] (and past exclusive
// bounds), a whole number for integers.
func exampleNumber(s map[string]any) float64 {
	v := 1.0
	if lo, ok := number(s["minimum"]); ok && v < lo {
		v = lo
	}
	if lo, ok := number(s["exclusiveMinimum"]); ok && v <= lo {
		v = lo + 1
	}
	if hi, ok := number(s["maximum"]); ok && v > hi {
		v = hi
	}
	if hi, ok := number(s["exclusiveMaximum"]); ok && v >= hi {
		v = hi - 1
	}
	if schemaType(s) == "integer" {
		v = math.Ceil(v)
	}
	return v
}

// maxItems is s's maxItems, or MaxInt without one.
func maxItems(s map[string]any) int {
	if n, ok := number(s["maxItems"]); ok {
		return int(n)
	}
	return math.MaxInt
}

// isCommand reports whether a property called name holds a shell command.
func isCommand(name string) bool {
	return name == "command" || name == "cmd"
}

// asSchema is v as a JSON object ({} when it is not one, e.g. true).
func asSchema(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// number is v as a float64 when it is a JSON number.
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// stringOf is v when it is a string, else "".
func stringOf(v any) string {
	s, _ := v.(string)
	return s
}
