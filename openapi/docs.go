package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"io"
	"sort"
	"strconv"
	"strings"
)

// node is a JSON value that keeps the order of object keys, so the page
// lists paths and fields in the order the document was written.
type node struct {
	keys   []string
	vals   []*node // object values, or array elements when isArr
	isObj  bool
	isArr  bool
	scalar any
}

func (n *node) get(key string) *node {
	if n == nil || !n.isObj {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

func (n *node) str(key string) string {
	if v := n.get(key); v != nil {
		if s, ok := v.scalar.(string); ok {
			return s
		}
	}
	return ""
}

func parseOrdered(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := decodeNode(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("openapi: trailing data after the document")
	}
	return n, nil
}

func decodeNode(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &node{isObj: t == '{', isArr: t == '['}
		for dec.More() {
			if n.isObj {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, kt.(string))
			}
			v, err := decodeNode(dec)
			if err != nil {
				return nil, err
			}
			n.vals = append(n.vals, v)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	default:
		return &node{scalar: t}, nil
	}
}

// renderDocs renders the document as one self-contained HTML page: inline
// CSS, no script, and links only to anchors of the page and to the two
// forms of the document on the same origin.
func renderDocs(spec []byte) ([]byte, error) {
	doc, err := parseOrdered(spec)
	if err != nil {
		return nil, err
	}
	if !doc.isObj || doc.get("paths") == nil || doc.get("info") == nil {
		return nil, errors.New("openapi: the document has no info or paths")
	}
	p := &page{doc: doc}
	p.render()
	return []byte(p.b.String()), nil
}

type page struct {
	doc *node
	b   strings.Builder
}

var methods = [...]string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func (p *page) w(s ...string) {
	for _, x := range s {
		p.b.WriteString(x)
	}
}

// text escapes s and shows `code` spans as <code>.
func text(s string) string {
	parts := strings.Split(html.EscapeString(s), "`")
	var b strings.Builder
	for i, part := range parts {
		if i%2 == 1 && i < len(parts)-1 {
			b.WriteString("<code>" + part + "</code>")
			continue
		}
		if i%2 == 1 {
			b.WriteString("`")
		}
		b.WriteString(part)
	}
	return b.String()
}

func anchor(kind, name string) string {
	var b strings.Builder
	b.WriteString(kind + "-")
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// refName returns the component name of a local $ref and its kind
// ("schemas", "responses", ...).
func refName(ref string) (kind, name string) {
	rest, ok := strings.CutPrefix(ref, "#/components/")
	if !ok {
		return "", ""
	}
	kind, name, _ = strings.Cut(rest, "/")
	return kind, name
}

func (p *page) component(kind, name string) *node {
	return p.doc.get("components").get(kind).get(name)
}

// deref follows a $ref to its component.
func (p *page) deref(n *node) *node {
	for i := 0; i < 10 && n != nil; i++ {
		ref := n.str("$ref")
		if ref == "" {
			return n
		}
		n = p.component(refName(ref))
	}
	return n
}

func (p *page) schemaLink(s *node) string {
	if s == nil {
		return ""
	}
	if ref := s.str("$ref"); ref != "" {
		_, name := refName(ref)
		return `<a href="#` + anchor("schema", name) + `">` + html.EscapeString(name) + `</a>`
	}
	return "<code>" + html.EscapeString(compactJSON(s)) + "</code>"
}

func compactJSON(n *node) string {
	var b bytes.Buffer
	writeJSON(&b, n)
	return b.String()
}

func writeJSON(b *bytes.Buffer, n *node) {
	switch {
	case n.isObj:
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			writeJSON(b, n.vals[i])
		}
		b.WriteByte('}')
	case n.isArr:
		b.WriteByte('[')
		for i, v := range n.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, v)
		}
		b.WriteByte(']')
	default:
		vb, _ := json.Marshal(n.scalar)
		b.Write(vb)
	}
}

func prettyJSON(n *node) string {
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(compactJSON(n)), "", "  "); err != nil {
		return compactJSON(n)
	}
	return out.String()
}

const css = `body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:1em 2em;color:#1f2328}
h1,h2,h3{line-height:1.25}h2{border-bottom:1px solid #d0d7de;padding-bottom:.3em;margin-top:2em}
.desc{white-space:pre-wrap}code,pre{font:13px ui-monospace,monospace;background:#f6f8fa;border-radius:4px}
code{padding:.1em .3em}pre{padding:.8em;overflow:auto}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}
.m{display:inline-block;min-width:4em;font-weight:bold;text-transform:uppercase}
.op{border:1px solid #d0d7de;border-radius:6px;padding:0 1em 1em;margin:1em 0}`

func (p *page) render() {
	info := p.doc.get("info")
	title := info.str("title")
	p.w("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
		"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
		"<title>", html.EscapeString(title), " API</title><style>", css, "</style></head><body>\n")
	p.w("<h1>", html.EscapeString(title), " API <small>version ", html.EscapeString(info.str("version")), "</small></h1>\n")
	p.w(`<p>The machine-readable document: <a href="/openapi.yaml">openapi.yaml</a> · <a href="/openapi.json">openapi.json</a> (OpenAPI `,
		html.EscapeString(p.doc.str("openapi")), ").</p>\n")
	if s := info.str("summary"); s != "" {
		p.w("<p><strong>", text(s), "</strong></p>\n")
	}
	p.w(`<div class="desc">`, text(info.str("description")), "</div>\n")

	if servers := p.doc.get("servers"); servers != nil && len(servers.vals) > 0 {
		p.w("<h2 id=\"servers\">Servers</h2><ul>")
		for _, s := range servers.vals {
			p.w("<li><code>", html.EscapeString(s.str("url")), "</code> ", text(s.str("description")), "</li>")
		}
		p.w("</ul>\n")
	}
	p.renderSecurity()
	p.renderIndex()
	p.renderOperations()
	p.renderSchemas()
	p.w("</body></html>\n")
}

func (p *page) renderSecurity() {
	schemes := p.doc.get("components").get("securitySchemes")
	if schemes == nil {
		return
	}
	p.w("<h2 id=\"security\">Authentication</h2><table><tr><th>scheme</th><th>how</th><th></th></tr>\n")
	for i, name := range schemes.keys {
		s := schemes.vals[i]
		how := s.str("type")
		if sch := s.str("scheme"); sch != "" {
			how += " " + sch
		}
		if in := s.str("in"); in != "" {
			how += ", " + in + " " + s.str("name")
		}
		p.w(`<tr><td id="`, anchor("security", name), `"><code>`, html.EscapeString(name), "</code></td><td>",
			html.EscapeString(how), "</td><td>", text(s.str("description")), "</td></tr>\n")
	}
	p.w("</table>\n")
}

type op struct {
	method, path string
	n            *node
	pathItem     *node
}

func (p *page) operations() []op {
	var ops []op
	paths := p.doc.get("paths")
	for i, path := range paths.keys {
		item := paths.vals[i]
		for _, m := range methods {
			if o := item.get(m); o != nil {
				ops = append(ops, op{method: m, path: path, n: o, pathItem: item})
			}
		}
	}
	return ops
}

func opAnchor(o op) string { return anchor("op", o.method+o.path) }

func (p *page) renderIndex() {
	p.w("<h2 id=\"endpoints\">Endpoints</h2>\n")
	ops := p.operations()
	var tags []string
	if t := p.doc.get("tags"); t != nil {
		for _, tag := range t.vals {
			tags = append(tags, tag.str("name"))
		}
	}
	byTag := map[string][]op{}
	for _, o := range ops {
		tag := ""
		if t := o.n.get("tags"); t != nil && len(t.vals) > 0 {
			tag, _ = t.vals[0].scalar.(string)
		}
		if !contains(tags, tag) {
			tags = append(tags, tag)
		}
		byTag[tag] = append(byTag[tag], o)
	}
	for _, tag := range tags {
		if len(byTag[tag]) == 0 {
			continue
		}
		desc := ""
		if t := p.doc.get("tags"); t != nil {
			for _, x := range t.vals {
				if x.str("name") == tag {
					desc = x.str("description")
				}
			}
		}
		p.w("<h3>", html.EscapeString(tag), "</h3><p>", text(desc), "</p><ul>\n")
		for _, o := range byTag[tag] {
			p.w(`<li><a href="#`, opAnchor(o), `"><span class="m">`, o.method, "</span> <code>", html.EscapeString(o.path),
				"</code></a> ", text(o.n.str("summary")), "</li>\n")
		}
		p.w("</ul>\n")
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (p *page) renderOperations() {
	p.w("<h2 id=\"operations\">Operations</h2>\n")
	for _, o := range p.operations() {
		p.w(`<div class="op" id="`, opAnchor(o), `"><h3><span class="m">`, o.method, "</span> <code>",
			html.EscapeString(o.path), "</code></h3>\n<p><strong>", text(o.n.str("summary")), "</strong></p>\n")
		if d := o.n.str("description"); d != "" {
			p.w(`<div class="desc">`, text(d), "</div>\n")
		}
		p.renderOpSecurity(o.n)
		p.renderParameters(append(params(o.pathItem), params(o.n)...))
		if rb := p.deref(o.n.get("requestBody")); rb != nil {
			p.w("<h4>Request body</h4>")
			if d := rb.str("description"); d != "" {
				p.w(`<div class="desc">`, text(d), "</div>")
			}
			p.renderContent(rb.get("content"))
		}
		p.renderResponses(o.n.get("responses"))
		p.w("</div>\n")
	}
}

func params(n *node) []*node {
	if ps := n.get("parameters"); ps != nil {
		return ps.vals
	}
	return nil
}

func (p *page) renderOpSecurity(o *node) {
	sec := o.get("security")
	if sec == nil {
		sec = p.doc.get("security")
	}
	if sec == nil || len(sec.vals) == 0 {
		p.w("<p>Authentication: none.</p>\n")
		return
	}
	var alts []string
	for _, req := range sec.vals {
		if len(req.keys) == 0 {
			alts = append(alts, "none")
			continue
		}
		var names []string
		for _, k := range req.keys {
			names = append(names, `<a href="#`+anchor("security", k)+`">`+html.EscapeString(k)+"</a>")
		}
		alts = append(alts, strings.Join(names, " and "))
	}
	p.w("<p>Authentication: ", strings.Join(alts, " or "), ".</p>\n")
}

func (p *page) renderParameters(ps []*node) {
	if len(ps) == 0 {
		return
	}
	p.w("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>schema</th><th></th></tr>\n")
	for _, raw := range ps {
		prm := p.deref(raw)
		req := ""
		if r := prm.get("required"); r != nil && r.scalar == true {
			req = " (required)"
		}
		p.w("<tr><td><code>", html.EscapeString(prm.str("name")), "</code>", req, "</td><td>", html.EscapeString(prm.str("in")),
			"</td><td>", p.schemaLink(prm.get("schema")), "</td><td>", text(prm.str("description")), "</td></tr>\n")
	}
	p.w("</table>\n")
}

func (p *page) renderContent(content *node) {
	if content == nil {
		return
	}
	p.w("<ul>")
	for i, mt := range content.keys {
		p.w("<li><code>", html.EscapeString(mt), "</code>: ", p.schemaLink(content.vals[i].get("schema")), "</li>")
	}
	p.w("</ul>\n")
}

func (p *page) renderResponses(rs *node) {
	if rs == nil {
		return
	}
	p.w("<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>headers</th><th>body</th></tr>\n")
	idx := make([]int, len(rs.keys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return rs.keys[idx[a]] < rs.keys[idx[b]] })
	for _, i := range idx {
		r := p.deref(rs.vals[i])
		var hs []string
		if h := r.get("headers"); h != nil {
			for j, name := range h.keys {
				hd := p.deref(h.vals[j])
				s := "<code>" + html.EscapeString(name) + "</code>"
				if req := hd.get("required"); req != nil && req.scalar == true {
					s += " (always)"
				}
				hs = append(hs, s)
			}
		}
		p.w("<tr><td>", html.EscapeString(rs.keys[i]), `</td><td class="desc">`, text(r.str("description")), "</td><td>",
			strings.Join(hs, "<br>"), "</td><td>")
		if c := r.get("content"); c != nil {
			for j, mt := range c.keys {
				if j > 0 {
					p.w("<br>")
				}
				p.w("<code>", html.EscapeString(mt), "</code> ", p.schemaLink(c.vals[j].get("schema")))
			}
		}
		p.w("</td></tr>\n")
	}
	p.w("</table>\n")
}

func (p *page) renderSchemas() {
	schemas := p.doc.get("components").get("schemas")
	if schemas == nil {
		return
	}
	p.w("<h2 id=\"schemas\">Schemas</h2>\n")
	for i, name := range schemas.keys {
		s := schemas.vals[i]
		p.w(`<h3 id="`, anchor("schema", name), `">`, html.EscapeString(name), "</h3>\n")
		if d := s.str("description"); d != "" {
			p.w(`<div class="desc">`, text(d), "</div>\n")
		}
		p.w("<pre>", html.EscapeString(prettyJSON(s)), "</pre>\n")
	}
	p.w("<p>", strconv.Itoa(len(schemas.keys)), " schemas.</p>\n")
}
