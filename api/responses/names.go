package responses

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// Chat function names for namespaced tools.
//
// Chat completions has no namespaces, so ToChat flattens a namespace group
// into plain functions and the answer's calls are mapped back with the
// same table (built from the request's tools, so ToChat, FromChatResponse
// and StreamFromChat agree without sharing state):
//
//   - a top-level function keeps its name;
//   - function "name" in namespace "ns" becomes "ns__name" ("nsname" when
//     ns already ends in "__", as MCP-style prefixes do), with every byte
//     outside [A-Za-z0-9_-] replaced by "_" because chat upstreams accept
//     only those;
//   - a flattened name longer than 64 bytes (the chat limit) or already
//     taken becomes its first 55 bytes, "_" and 8 hex digits of the FNV-1a
//     hash of namespace and name.
//
// A call to a name the table does not know is passed through with no
// namespace (the model invented it; the client reports the error).
const maxChatName = 64

type qualName struct{ ns, name string }

type toolNames struct {
	chat map[qualName]string
	back map[string]qualName
}

func newToolNames(tools []Tool) toolNames {
	t := toolNames{chat: map[qualName]string{}, back: map[string]qualName{}}
	for _, tool := range tools {
		if tool.Type == ToolFunction && tool.Name != "" {
			t.add(qualName{"", tool.Name}, tool.Name)
		}
	}
	for _, tool := range tools {
		if tool.Type != ToolNamespace {
			continue
		}
		for _, inner := range tool.Tools {
			if inner.Type == ToolFunction && inner.Name != "" {
				t.addNamespaced(qualName{tool.Name, inner.Name})
			}
		}
	}
	return t
}

func (t toolNames) add(q qualName, chat string) {
	if _, ok := t.chat[q]; ok {
		return
	}
	if _, taken := t.back[chat]; taken {
		return
	}
	t.chat[q], t.back[chat] = chat, q
}

func (t toolNames) addNamespaced(q qualName) {
	if _, ok := t.chat[q]; ok {
		return
	}
	name := flatName(q)
	for salt := 0; len(name) > maxChatName || t.taken(name); salt++ {
		name = hashedName(flatName(q), q, salt)
	}
	t.chat[q], t.back[name] = name, q
}

func (t toolNames) taken(name string) bool {
	_, ok := t.back[name]
	return ok
}

// toChat is the chat name of a (namespace, name) pair, for tools and for
// the function_call items of a conversation.
func (t toolNames) toChat(ns, name string) string {
	if n, ok := t.chat[qualName{ns, name}]; ok {
		return n
	}
	if ns == "" {
		return name
	}
	return flatName(qualName{ns, name})
}

// fromChat maps a chat function name back to namespace and name.
func (t toolNames) fromChat(chat string) (ns, name string) {
	if q, ok := t.back[chat]; ok {
		return q.ns, q.name
	}
	return "", chat
}

func flatName(q qualName) string {
	sep := "__"
	if strings.HasSuffix(q.ns, "__") {
		sep = ""
	}
	return sanitizeName(q.ns + sep + q.name)
}

func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c == '-' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

func hashedName(flat string, q qualName, salt int) string {
	h := fnv.New32a()
	h.Write([]byte(q.ns + "\x00" + q.name))
	if salt > 0 {
		h.Write([]byte(strconv.Itoa(salt)))
	}
	sum := strconv.FormatUint(uint64(h.Sum32()), 16)
	sum = strings.Repeat("0", 8-len(sum)) + sum
	if len(flat) > maxChatName-9 {
		flat = flat[:maxChatName-9]
	}
	return flat + "_" + sum
}
