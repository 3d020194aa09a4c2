package api

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// EmbeddingsRequest holds the fields of an embeddings body the gateway reads;
// the body itself is forwarded as bytes.
type EmbeddingsRequest struct {
	Model string
	// EncodingFormat is the client's "encoding_format" ("float", "base64" or "").
	EncodingFormat string
}

// WantsBase64 reports whether the client asked for base64 embeddings (the
// OpenAI Node SDK does by default).
func (r *EmbeddingsRequest) WantsBase64() bool { return r.EncodingFormat == "base64" }

// ParseEmbeddingsRequest validates an embeddings body: a JSON object with a
// non-empty string "model" and an "input" that is a non-empty string or
// array. A failure is a 400 Error naming the field.
func ParseEmbeddingsRequest(body []byte) (EmbeddingsRequest, *Error) {
	var out EmbeddingsRequest
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return out, NewError(CodeInvalidJSON, "The request body is empty; expected a JSON object.")
	}
	if !json.Valid(trimmed) {
		return out, NewError(CodeInvalidJSON, "The request body is not valid JSON.")
	}
	if trimmed[0] != '{' {
		return out, NewError(CodeInvalidRequest, "The request body must be a JSON object.")
	}
	// encoding/json matches keys regardless of case and keeps the last of
	// duplicates while Copilot reads them exactly: {"model":"x","Model":"y"}
	// would pass a key's allow-list as y and be served as x.
	if e := topKeyError(trimmed, "model", "input", "encoding_format"); e != nil {
		return out, e
	}
	var w struct {
		Model          json.RawMessage `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat json.RawMessage `json:"encoding_format"`
	}
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return out, NewError(CodeInvalidRequest, "The request body has a field of the wrong type: "+describeJSONError(err)+".")
	}
	if len(w.Model) == 0 || string(w.Model) == "null" {
		return out, NewError(CodeMissingField, "you must provide a model parameter").WithParam("model")
	}
	if err := json.Unmarshal(w.Model, &out.Model); err != nil || out.Model == "" {
		return out, NewError(CodeInvalidRequest, "\"model\" must be a non-empty string.").WithParam("model")
	}
	in := bytes.TrimSpace(w.Input)
	if len(in) == 0 || string(in) == "null" {
		return out, NewError(CodeMissingField, "Missing required parameter: 'input'.").WithParam("input")
	}
	switch {
	case in[0] == '"':
		if string(in) == `""` {
			return out, NewError(CodeInvalidRequest, "\"input\" must not be empty.").WithParam("input")
		}
	case in[0] == '[':
		if len(bytes.TrimSpace(in[1:len(in)-1])) == 0 {
			return out, NewError(CodeInvalidRequest, "\"input\" must not be empty.").WithParam("input")
		}
	default:
		return out, NewError(CodeInvalidRequest, "\"input\" must be a string or an array.").WithParam("input")
	}
	if len(w.EncodingFormat) > 0 && string(w.EncodingFormat) != "null" {
		if err := json.Unmarshal(w.EncodingFormat, &out.EncodingFormat); err != nil {
			return out, NewError(CodeInvalidRequest, "\"encoding_format\" must be a string.").WithParam("encoding_format")
		}
	}
	return out, nil
}

// EncodeEmbeddingsBase64 rewrites an embeddings response whose
// data[].embedding are arrays of numbers so that each is the standard base64
// of its values as little-endian float32, the encoding OpenAI uses for
// encoding_format "base64". An embedding that is already a string is left as
// is; every other field is kept (object keys come out sorted). An error means
// the body is not an embeddings response that can be rewritten.
func EncodeEmbeddingsBase64(body []byte) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, errors.New("embeddings response is not a JSON object")
	}
	rawData, ok := top["data"]
	if !ok || string(bytes.TrimSpace(rawData)) == "null" {
		return body, nil
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(rawData, &items); err != nil {
		return nil, errors.New(`embeddings response "data" is not an array of objects`)
	}
	changed := false
	var buf []byte
	for i, item := range items {
		emb := bytes.TrimSpace(item["embedding"])
		if len(emb) == 0 || emb[0] != '[' {
			continue
		}
		var vec []float32
		if err := json.Unmarshal(emb, &vec); err != nil {
			return nil, errors.New("embeddings response data[" + strconv.Itoa(i) + "].embedding is not an array of numbers")
		}
		buf = buf[:0]
		for _, f := range vec {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(f))
		}
		enc, _ := json.Marshal(base64.StdEncoding.EncodeToString(buf))
		item["embedding"] = enc
		changed = true
	}
	if !changed {
		return body, nil
	}
	data, err := json.Marshal(items)
	if err != nil {
		return nil, err
	}
	top["data"] = data
	return json.Marshal(top)
}
