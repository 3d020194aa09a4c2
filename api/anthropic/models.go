package anthropic

import (
	"strconv"
	"strings"
)

// CanonicalModel maps a model id as Anthropic clients send it to one of the
// ids Copilot lists (listed, from GET /models). ok is false when nothing
// maps; the gateway then answers 404 naming the models that exist.
//
// The rules, in order:
//
//  1. An id that is listed is returned unchanged; so is one that is listed
//     when case is ignored (the listed spelling is returned).
//  2. The id is normalised: lower case; a provider prefix before "claude-"
//     ("anthropic/", "us.anthropic.") dropped; a bracket suffix such as
//     "[1m]" read as a variant; a Vertex "@20250929" or Bedrock "-v1:0"
//     suffix, a dated "-20250929" and "-latest" dropped. A non-Claude id
//     gets rule 1 again on what is left, and nothing else.
//  3. A Claude id is read as family, version and variant in either of
//     Anthropic's orders ("claude-sonnet-4-5", "claude-3-5-haiku") and in
//     Copilot's spellings ("claude-sonnet-4.5", "claude-3.7-sonnet-thought",
//     "claude-opus-41" = Opus 4.1, "claude-opus-4.6-1m"). The bare aliases
//     "opus", "sonnet" and "haiku" are families without a version.
//  4. Among listed Claude models of the same family: the same version with
//     the same variant ("[1m]" finds "claude-opus-4.6-1m"), else the same
//     version without a variant ("claude-opus-4-6[1m]" -> "claude-opus-4.6"),
//     else, when the version is not listed or none was given, the newest
//     listed version without a variant ("claude-3-5-haiku-latest" ->
//     "claude-haiku-4.5"), else the newest with one. Families never mix: a
//     Haiku request is not served by Sonnet.
func CanonicalModel(id string, listed []string) (string, bool) {
	if m, ok := listedAs(id, listed); ok {
		return m, true
	}
	norm, variant := normalizeModel(id)
	want, ok := parseClaude(norm)
	if !ok {
		return listedAs(norm, listed)
	}
	if variant != "" {
		want.variant = variant
	}
	return bestClaude(want, listed)
}

// listedAs finds id in listed, exactly or else ignoring case.
func listedAs(id string, listed []string) (string, bool) {
	for _, m := range listed {
		if m == id {
			return m, true
		}
	}
	for _, m := range listed {
		if strings.EqualFold(m, id) {
			return m, true
		}
	}
	return "", false
}

// normalizeModel applies rule 2: it returns the bare id and the variant
// named in a bracket suffix ("claude-opus-4-6[1m]" -> "claude-opus-4-6",
// "1m").
func normalizeModel(id string) (string, string) {
	id = strings.ToLower(strings.TrimSpace(id))
	variant := ""
	if i := strings.IndexByte(id, '['); i >= 0 && strings.HasSuffix(id, "]") {
		variant = strings.Trim(id[i+1:len(id)-1], " -")
		id = id[:i]
	}
	if i := strings.Index(id, "claude-"); i > 0 {
		id = id[i:]
	}
	if i := strings.IndexByte(id, '@'); i > 0 {
		id = id[:i]
	}
	if i := strings.Index(id, "-v"); i > 0 && strings.Contains(id[i:], ":") {
		id = id[:i]
	}
	for {
		switch last := id[strings.LastIndexByte(id, '-')+1:]; {
		case last == "latest" || isDate(last):
			id = strings.TrimSuffix(id[:len(id)-len(last)], "-")
			continue
		}
		return id, variant
	}
}

// isDate reports whether s is an eight-digit date such as 20250929.
func isDate(s string) bool {
	if len(s) != 8 || !strings.HasPrefix(s, "20") {
		return false
	}
	_, err := strconv.Atoi(s)
	return err == nil
}

// claudeModel is a Claude model id read as family, version and variant.
type claudeModel struct {
	id           string
	family       string // "sonnet", "opus", "haiku", ...
	major, minor int
	versioned    bool
	variant      string // "thought", "1m", "fast", ... ("" for the base model)
}

func (c claudeModel) newer(o claudeModel) bool {
	if c.major != o.major {
		return c.major > o.major
	}
	return c.minor > o.minor
}

// parseClaude reads a normalised id (rule 3).
func parseClaude(id string) (claudeModel, bool) {
	c := claudeModel{id: id}
	switch id {
	case "opus", "sonnet", "haiku":
		c.family = id
		return c, true
	}
	rest, ok := strings.CutPrefix(id, "claude-")
	if !ok {
		return c, false
	}
	var nums, extra []string
	for _, tok := range strings.Split(rest, "-") {
		switch {
		case c.family == "" && isLetters(tok):
			c.family = tok
		case len(extra) == 0 && len(nums) < 2 && isVersion(tok):
			nums = append(nums, tok)
		case tok != "":
			extra = append(extra, tok)
		}
	}
	if c.family == "" {
		return c, false
	}
	c.variant = strings.Join(extra, "-")
	c.major, c.minor, c.versioned = version(nums)
	return c, true
}

// version reads one or two version tokens: "4" "5", "4.5", or Copilot's
// "41" (4.1: a single two-digit token).
func version(nums []string) (major, minor int, ok bool) {
	if len(nums) == 0 {
		return 0, 0, false
	}
	if len(nums) == 1 {
		if a, b, dotted := strings.Cut(nums[0], "."); dotted {
			nums = []string{a, b}
		} else if len(nums[0]) == 2 {
			nums = []string{nums[0][:1], nums[0][1:]}
		}
	}
	major, _ = strconv.Atoi(nums[0])
	if len(nums) > 1 {
		minor, _ = strconv.Atoi(nums[1])
	}
	return major, minor, true
}

// isVersion: "4", "45", "4.5".
func isVersion(s string) bool {
	a, b, dotted := strings.Cut(s, ".")
	return isDigits(a) && (!dotted || isDigits(b))
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func isLetters(s string) bool {
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return s != ""
}

// bestClaude applies rule 4. An unversioned request ("opus", "sonnet[1m]")
// asks for the newest version, then goes through the same steps.
func bestClaude(want claudeModel, listed []string) (string, bool) {
	family := listedFamily(want.family, listed)
	if !want.versioned {
		if n := newest(family, true); n != nil {
			want.major, want.minor, want.versioned = n.major, n.minor, true
		}
	}
	var same, sameBase *claudeModel
	for i, c := range family {
		if c.major != want.major || c.minor != want.minor {
			continue
		}
		if c.variant == want.variant && same == nil {
			same = &family[i]
		}
		if c.variant == "" && sameBase == nil {
			sameBase = &family[i]
		}
	}
	for _, c := range []*claudeModel{same, sameBase, newest(family, true), newest(family, false)} {
		if c != nil {
			return c.id, true
		}
	}
	return "", false
}

// listedFamily is the versioned Claude models of a family among listed,
// each with its listed id.
func listedFamily(family string, listed []string) []claudeModel {
	var out []claudeModel
	for _, id := range listed {
		norm, _ := normalizeModel(id)
		if c, ok := parseClaude(norm); ok && c.family == family && c.versioned {
			c.id = id
			out = append(out, c)
		}
	}
	return out
}

// newest is the newest model of models (the first of equals), only among
// base models when baseOnly; nil when there is none.
func newest(models []claudeModel, baseOnly bool) *claudeModel {
	var best *claudeModel
	for i, c := range models {
		if baseOnly && c.variant != "" {
			continue
		}
		if best == nil || c.newer(*best) {
			best = &models[i]
		}
	}
	return best
}
