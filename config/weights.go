package config

import (
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"go.yaml.in/yaml/v3"
)

var (
	weightKeys = []string{"name", "target", "source"}
	sourceKeys = []string{"uri", "include", "exclude"}
	// WeightNameRE is the pattern a weight name must match (weights-v1 §2).
	WeightNameRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`)
)

func (w *walker) parseWeights(f field) []Weight {
	items, _ := w.list(f)
	var out []Weight
	var paths []string // key path of each accepted weight, for later errors
	names := map[string]int{}
	for _, it := range items {
		wt, ok := w.parseWeight(it)
		if !ok {
			continue
		}
		if line, dup := names[wt.Name]; dup {
			p := joinPath(it.path, "name")
			w.fail(w.src[p], p, "weight name is used twice", quote(wt.Name), "it was first used at line "+itoa(line)+"; names must be unique")
			continue
		}
		names[wt.Name] = w.src[joinPath(it.path, "name")].Line
		out = append(out, wt)
		paths = append(paths, it.path)
	}
	w.checkTargets(out, paths)
	return out
}

func (w *walker) parseWeight(it field) (Weight, bool) {
	m, ok := w.mapping(it.val, it.path, weightKeys...)
	if !ok {
		return Weight{}, false
	}
	var wt Weight
	good := true
	for _, k := range weightKeys {
		if kf, has := m[k]; !has || isNull(kf.val) {
			w.fail(w.pos(it.val), joinPath(it.path, k), "is required", "", weightHint[k])
			good = false
		}
	}
	if !good {
		return Weight{}, false
	}
	if s, ok := w.str(m["name"]); ok {
		if WeightNameRE.MatchString(s) {
			wt.Name = s
		} else {
			w.fail(w.valuePos(m["name"]), m["name"].path, "is not a valid weight name", quote(s),
				"use lower-case letters and digits, separated by single . _ or -, e.g. minilm or llama-3.1-8b")
			good = false
		}
	} else {
		good = false
	}
	if t, ok := w.parseTarget(m["target"]); ok {
		wt.Target = t
	} else {
		good = false
	}
	if srcs, ok := w.parseSources(m["source"]); ok {
		wt.Sources = srcs
	} else {
		good = false
	}
	return wt, good
}

var weightHint = map[string]string{
	"name":   "give the weight a name such as minilm",
	"target": "give the absolute directory the files appear in inside the container, e.g. /src/weights/minilm",
	"source": "say where the files come from, e.g. source: {uri: weights/minilm}",
}

func (w *walker) parseTarget(f field) (string, bool) {
	s, ok := w.str(f)
	if !ok {
		return "", false
	}
	c := path.Clean(s)
	switch {
	case !strings.HasPrefix(s, "/"):
		w.fail(w.valuePos(f), f.path, "must be an absolute path", quote(s), "e.g. /src/weights/minilm")
	case c == "/":
		w.fail(w.valuePos(f), f.path, "cannot be the root directory", quote(s), "use a directory of its own, e.g. /src/weights/minilm")
	case strings.ContainsAny(s, "\\\x00") || hasControl(s):
		w.fail(w.valuePos(f), f.path, "contains a backslash or a control character", quote(s), "use a plain absolute path with /")
	default:
		return c, true
	}
	return "", false
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// parseSources accepts one source mapping or a non-empty list of them.
func (w *walker) parseSources(f field) ([]WeightSource, bool) {
	n := resolve(f.val)
	if n.Kind == yaml.MappingNode {
		s, ok := w.parseSource(f)
		return []WeightSource{s}, ok
	}
	if n.Kind != yaml.SequenceNode {
		w.fail(w.pos(n), f.path, "must be a source mapping or a list of them", describe(n), "e.g. source: {uri: weights/minilm}")
		return nil, false
	}
	items, _ := w.list(f)
	if len(items) == 0 {
		w.fail(w.pos(n), f.path, "must not be an empty list", "[]", "give at least one source with a uri")
		return nil, false
	}
	var out []WeightSource
	good := true
	for _, it := range items {
		s, ok := w.parseSource(it)
		good = good && ok
		out = append(out, s)
	}
	return out, good
}

func (w *walker) parseSource(f field) (WeightSource, bool) {
	m, ok := w.mapping(f.val, f.path, sourceKeys...)
	if !ok {
		return WeightSource{}, false
	}
	var src WeightSource
	good := true
	uf, has := m["uri"]
	if !has || isNull(uf.val) {
		w.fail(w.pos(f.val), joinPath(f.path, "uri"), "is required", "", "e.g. uri: weights/minilm, hf://org/repo or https://...")
		good = false
	} else if s, ok := w.str(uf); ok {
		if _, err := NormalizeSourceURI(s); err != nil {
			w.fail(w.valuePos(uf), uf.path, err.Error(), "", "")
			good = false
		}
		src.URI = s
	} else {
		good = false
	}
	for _, k := range []string{"include", "exclude"} {
		pf, has := m[k]
		if !has {
			continue
		}
		pats, ok := w.parsePatterns(pf)
		good = good && ok
		if k == "include" {
			src.Include = pats
		} else {
			src.Exclude = pats
		}
	}
	return src, good
}

func (w *walker) parsePatterns(f field) ([]string, bool) {
	items, ok := w.list(f)
	if !ok {
		return nil, false
	}
	var out []string
	good := true
	for _, it := range items {
		s, ok := w.str(it)
		if !ok {
			good = false
			continue
		}
		if err := CheckPattern(s); err != nil {
			w.fail(w.valuePos(it), it.path, err.Error(), quote(s),
				"use gitignore-style patterns such as *.safetensors, onnx/ or **/*.json")
			good = false
			continue
		}
		out = append(out, s)
	}
	return out, good
}

// CheckPattern validates one include/exclude pattern. Patterns are matched
// with go-git's gitignore package; it never reports a bad pattern itself (a
// broken "[" just never matches), so the checks a user needs are made here:
// no negation ("!": include/exclude already say which way), no "\" (escapes
// differ between platforms), "**" only as a whole path component, and every
// component a valid glob.
func CheckPattern(p string) error {
	switch {
	case strings.TrimSpace(p) == "":
		return errorString("pattern is empty")
	case strings.TrimSpace(p) != p:
		return errorString("pattern has leading or trailing spaces")
	case strings.HasPrefix(p, "!"):
		return errorString("negated patterns (\"!\") are not allowed; move the pattern to the other list (include or exclude)")
	case strings.Contains(p, "\\"):
		return errorString("\"\\\" is not allowed in patterns")
	case hasControl(p):
		return errorString("pattern contains a control character")
	case strings.Trim(p, "/") == "":
		return errorString("pattern matches nothing")
	}
	for _, comp := range strings.Split(strings.Trim(p, "/"), "/") {
		if comp == "**" || comp == "" {
			continue
		}
		if strings.Contains(comp, "**") {
			return errorString("\"**\" must be a whole path component, as in **/x or x/**")
		}
		if _, err := filepath.Match(comp, ""); err != nil {
			return errorString("pattern is not a valid glob (check [ ] pairs)")
		}
	}
	// The weights engine matches with this library; parsing and probing the
	// pattern here means cog.yaml is only accepted if the matcher takes it.
	gitignore.ParsePattern(p, nil).Match([]string{"probe"}, false)
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// checkTargets refuses duplicate targets and a target inside another one:
// weights are delivered as separate directories, so one would hide or mix
// into the other.
func (w *walker) checkTargets(weights []Weight, paths []string) {
	type entry struct {
		target string
		idx    int
	}
	var es []entry
	for i, wt := range weights {
		es = append(es, entry{wt.Target, i})
	}
	sort.SliceStable(es, func(a, b int) bool { return es[a].target < es[b].target })
	for i := 1; i < len(es); i++ {
		for j := 0; j < i; j++ {
			a, b := es[j], es[i]
			if a.target != b.target && !strings.HasPrefix(b.target, a.target+"/") {
				continue
			}
			later, earlier := b, a
			if later.idx < earlier.idx {
				later, earlier = earlier, later
			}
			p := joinPath(paths[later.idx], "target")
			what := "target is also used by weight " + quote(weights[earlier.idx].Name)
			if a.target != b.target {
				what = "target is nested inside (or contains) the target of weight " + quote(weights[earlier.idx].Name) + " (" + weights[earlier.idx].Target + ")"
			}
			w.fail(w.src[p], p, what, quote(weights[later.idx].Target), "give each weight its own directory, none inside another")
		}
	}
}
