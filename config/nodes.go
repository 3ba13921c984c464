package config

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// walker turns yaml.v3 nodes into values, recording where each key and list
// item was written and collecting every problem on the way.
type walker struct {
	problems
	src SourceMap
	// jsonStrings makes str accept only string scalars (weights.lock is
	// JSON, where a number is never a string); cog.yaml accepts numbers
	// written where text is expected, as in python_version: 3.11.
	jsonStrings bool
}

func (w *walker) pos(n *yaml.Node) Position {
	return Position{File: w.file, Line: n.Line, Column: n.Column}
}

// field is one key of a mapping with both nodes, so errors about the key and
// errors about the value can point at the right column.
type field struct {
	key, val *yaml.Node
	path     string
}

// resolve follows aliases (*anchor) to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// describe names a node's kind and value for "(got ...)".
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil || isNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.ShortTag() == "!!str":
		return quote(n.Value)
	default:
		return n.Value
	}
}

// mapping checks that n is a mapping with only the allowed keys, no key
// twice, and returns its fields by key. Source positions are recorded for
// every known key. ok is false when n is not a mapping at all.
func (w *walker) mapping(n *yaml.Node, path string, allowed ...string) (fields map[string]field, ok bool) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		what := "must be a mapping"
		switch {
		case path == "" && w.jsonStrings: // weights.lock
			what = "the file must be a JSON object"
		case path == "":
			what = "the file must be a mapping of keys such as build, run and weights"
		}
		w.fail(w.pos(n), path, what, describe(n), "allowed keys: "+strings.Join(allowed, ", "))
		return nil, false
	}
	fields = make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.fail(w.pos(k), path, "keys must be plain names", describe(k), "allowed keys: "+strings.Join(allowed, ", "))
			continue
		}
		p := joinPath(path, k.Value)
		if prev, dup := fields[k.Value]; dup {
			w.fail(w.pos(k), p, "key is set twice", quote(k.Value),
				"it was first set at line "+strconv.Itoa(prev.key.Line)+"; keep one")
			continue
		}
		if !contains(allowed, k.Value) {
			w.fail(w.pos(k), p, "unknown key", quote(k.Value), "allowed keys here: "+strings.Join(allowed, ", "))
			continue
		}
		fields[k.Value] = field{key: k, val: v, path: p}
		w.src[p] = w.pos(k)
	}
	return fields, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scalar returns the text of a scalar exactly as written. Numbers are
// accepted as text (their source form, so `3.10` stays "3.10"); booleans,
// nulls, lists and mappings are not strings.
func (w *walker) str(f field) (string, bool) {
	n := resolve(f.val)
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str":
			return n.Value, true
		case "!!int", "!!float":
			if !w.jsonStrings {
				return n.Value, true
			}
		}
	}
	w.fail(w.pos(n), f.path, "must be a string", describe(n), "quote the value, e.g. \"...\"")
	return "", false
}

// yaml11Bools are the YAML 1.1 spellings Cog's YAML library (yaml.v2)
// reads as booleans; yaml.v3 reads them as strings. A cog.yaml that works
// with Cog must work here, so they are accepted with a warning.
var yaml11Bools = map[string]bool{
	"yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true, "y": true, "Y": true,
	"no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false, "n": false, "N": false,
}

func (w *walker) boolean(f field) (bool, bool) {
	n := resolve(f.val)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	if b, ok := yaml11Bools[n.Value]; ok && n.Kind == yaml.ScalarNode && n.Style == 0 && !w.jsonStrings {
		w.warn(w.pos(n), f.path, "write "+strconv.FormatBool(b)+" instead of "+n.Value+" (YAML 1.2 reads "+n.Value+" as text)")
		return b, true
	}
	w.fail(w.pos(n), f.path, "must be true or false", describe(n), "")
	return false, false
}

func (w *walker) integer(f field) (int, bool) {
	n := resolve(f.val)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		var i int
		if err := n.Decode(&i); err == nil {
			return i, true
		}
	}
	w.fail(w.pos(n), f.path, "must be a whole number", describe(n), "")
	return 0, false
}

// list returns the items of a sequence as fields named path[i], recording
// their positions. A null value is an empty list.
func (w *walker) list(f field) ([]field, bool) {
	n := resolve(f.val)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		w.fail(w.pos(n), f.path, "must be a list", describe(n), "write one item per line, each starting with \"- \"")
		return nil, false
	}
	items := make([]field, len(n.Content))
	for i, item := range n.Content {
		p := indexPath(f.path, i)
		items[i] = field{key: item, val: item, path: p}
		w.src[p] = w.pos(item)
	}
	return items, true
}

// strings returns a list of strings; bad items are reported and skipped.
func (w *walker) strs(f field) []string {
	items, _ := w.list(f)
	var out []string
	for _, it := range items {
		if s, ok := w.str(it); ok {
			out = append(out, s)
		}
	}
	return out
}

// valuePos is where a field's value was written (for errors about values).
func (w *walker) valuePos(f field) Position {
	return w.pos(resolve(f.val))
}
