// Package yamljson converts the YAML of the OpenAPI document to JSON,
// keeping the order of its keys so the JSON reads like the YAML. It is used
// by the generator of openapi.json and by the test that keeps the two in
// step; the gateway itself never parses YAML.
package yamljson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	yaml "go.yaml.in/yaml/v4"
)

// Convert returns src (one YAML document) as indented JSON with a trailing
// newline. Mapping keys keep their order; anchors and aliases are expanded.
func Convert(src []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("yamljson: want exactly one YAML document")
	}
	var compact bytes.Buffer
	if err := write(&compact, doc.Content[0], 0); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// maxDepth bounds alias expansion (a cycle would never end).
const maxDepth = 200

func write(b *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return errors.New("yamljson: document nested too deeply (alias cycle?)")
	}
	switch n.Kind {
	case yaml.AliasNode:
		return write(b, n.Alias, depth+1)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("yamljson: line %d: mapping key is not a scalar", k.Line)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			key, _ := json.Marshal(k.Value)
			b.Write(key)
			b.WriteByte(':')
			if err := write(b, v, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, v := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := write(b, v, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		switch n.ShortTag() {
		case "!!int", "!!float", "!!bool", "!!null":
			if err := n.Decode(&v); err != nil {
				return fmt.Errorf("yamljson: line %d: %w", n.Line, err)
			}
		default: // strings, and timestamps kept as written
			v = n.Value
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("yamljson: line %d: %w", n.Line, err)
		}
		b.Write(enc)
	default:
		return fmt.Errorf("yamljson: line %d: unsupported YAML node", n.Line)
	}
	return nil
}
