package schema

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

type valueKind int

const (
	vNone valueKind = iota
	vBool
	vInt
	vFloat
	vStr
	vList
	vDict
	vSet
)

// value is a Python literal read statically (a default, a choice).
type value struct {
	kind  valueKind
	b     bool
	i     int64
	f     float64
	s     string
	list  []value
	keys  []value
	items []value // dict values, parallel to keys
}

// toJSON is the value as Cog's schema writes it; dict keys are printed
// with %v, which is what Cog does for non-string keys.
func (v value) toJSON() any {
	switch v.kind {
	case vBool:
		return v.b
	case vInt:
		return v.i
	case vFloat:
		return v.f
	case vStr:
		return v.s
	case vList, vSet:
		out := make([]any, len(v.list))
		for i, x := range v.list {
			out[i] = x.toJSON()
		}
		return out
	case vDict:
		m := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			key := fmt.Sprintf("%v", k.toJSON())
			if k.kind == vStr {
				key = k.s
			}
			m[key] = v.items[i].toJSON()
		}
		return m
	}
	return nil
}

// omap is a JSON object that keeps insertion order, where Cog's generator
// does (paths, components, properties); every other object is a Go map,
// whose keys encoding/json sorts, as in Cog.
type omap struct {
	keys []string
	vals map[string]any
}

func (m *omap) set(k string, v any) {
	if m.vals == nil {
		m.vals = map[string]any{}
	}
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

func (m *omap) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, k := range m.keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(m.vals[k])
		if err != nil {
			return nil, err
		}
		buf = append(append(append(buf, kb...), ':'), vb...)
	}
	return append(buf, '}'), nil
}

// isFloatText tells Python float literals from integers, as tree-sitter's
// Python grammar does: a dot or an exponent, except in hex.
func isFloatText(s string) bool {
	l := strings.ToLower(s)
	if strings.HasPrefix(l, "0x") {
		return false
	}
	return strings.ContainsAny(l, ".e")
}

// literal reads a Python literal the way Cog's generator does, from the
// source text of the expression; ok is false for anything else.
func (f *file) literal(e *expr) (value, bool) {
	switch e.kind {
	case eConst:
		switch e.name {
		case "None":
			return value{kind: vNone}, true
		case "True":
			return value{kind: vBool, b: true}, true
		case "False":
			return value{kind: vBool}, true
		}
	case eNumber:
		text := f.text(e)
		if isFloatText(text) {
			x, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return value{}, false
			}
			return value{kind: vFloat, f: x}, true
		}
		n, err := strconv.ParseInt(text, 0, 64)
		if err != nil {
			return value{}, false
		}
		return value{kind: vInt, i: n}, true
	case eString:
		s, ok := f.stringLiteral(e)
		if !ok {
			return value{}, false
		}
		return value{kind: vStr, s: s}, true
	case eList, eSet:
		var items []value
		for _, x := range e.items {
			v, ok := f.literal(x)
			if !ok {
				return value{}, false
			}
			items = append(items, v)
		}
		k := vList
		if e.kind == eSet {
			k = vSet
		}
		return value{kind: k, list: items}, true
	case eDict:
		// Entries that are not literals are left out, not fatal (as Cog).
		var keys, vals []value
		for i, k := range e.items {
			if k == nil || e.values[i] == nil {
				continue
			}
			kv, ok1 := f.literal(k)
			vv, ok2 := f.literal(e.values[i])
			if ok1 && ok2 {
				keys, vals = append(keys, kv), append(vals, vv)
			}
		}
		return value{kind: vDict, keys: keys, items: vals}, true
	case eUnary:
		text := strings.TrimSpace(f.text(e))
		if n, err := strconv.ParseInt(text, 0, 64); err == nil {
			return value{kind: vInt, i: n}, true
		}
		if x, err := strconv.ParseFloat(text, 64); err == nil {
			return value{kind: vFloat, f: x}, true
		}
	case eTuple:
		var items []value
		for _, x := range e.items {
			if v, ok := f.literal(x); ok {
				items = append(items, v)
			}
		}
		return value{kind: vList, list: items}, true
	}
	return value{}, false
}

// stringLiteral is the text between the quotes, unescaped as little as
// Cog does (not at all): plain, triple-quoted and r-prefixed strings only.
func (f *file) stringLiteral(e *expr) (string, bool) {
	if e.kind != eString {
		return "", false
	}
	text := f.text(e)
	switch {
	case strings.HasPrefix(text, `"""`) || strings.HasPrefix(text, `'''`):
		if len(text) >= 6 {
			return text[3 : len(text)-3], true
		}
	case strings.HasPrefix(text, `"`) || strings.HasPrefix(text, `'`):
		return text[1 : len(text)-1], true
	case strings.HasPrefix(text, `r"`) || strings.HasPrefix(text, `r'`):
		return text[2 : len(text)-1], true
	}
	return "", false
}

func (f *file) number(e *expr) (float64, bool) {
	x, err := strconv.ParseFloat(strings.TrimSpace(f.text(e)), 64)
	return x, err == nil
}

func (f *file) boolean(e *expr) (bool, bool) {
	if e.kind == eConst && (e.name == "True" || e.name == "False") {
		return e.name == "True", true
	}
	return false, false
}

// resolveDefault is a literal or a module-level constant holding one.
func (f *file) resolveDefault(e *expr) (value, bool) {
	if v, ok := f.literal(e); ok {
		return v, true
	}
	if e.kind == eName {
		v, ok := f.scope[e.name]
		return v, ok
	}
	return value{}, false
}

func (f *file) resolveString(e *expr) (string, bool) {
	if s, ok := f.stringLiteral(e); ok {
		return s, true
	}
	if e.kind == eName {
		if v, ok := f.scope[e.name]; ok && v.kind == vStr {
			return v.s, true
		}
	}
	return "", false
}

// resolveChoices reads choices=: a list literal, a constant list,
// list(CONST.keys()/values()) of a constant dict, or a sum of those.
func (f *file) resolveChoices(e *expr) ([]value, bool) {
	switch e.kind {
	case eList:
		v, ok := f.literal(e)
		return v.list, ok
	case eName:
		if v, ok := f.scope[e.name]; ok && v.kind == vList {
			return v.list, true
		}
	case eCall:
		if f.text(e.x) != "list" || len(e.items) == 0 {
			return nil, false
		}
		arg := e.items[0]
		if arg.kind != eCall || arg.x.kind != eAttr || arg.x.x.kind != eName {
			return nil, false
		}
		d, ok := f.scope[arg.x.x.name]
		if !ok || d.kind != vDict {
			return nil, false
		}
		switch arg.x.name {
		case "keys":
			return d.keys, true
		case "values":
			return d.items, true
		}
	case eBinary:
		if e.op != "+" {
			return nil, false
		}
		l, ok := f.resolveChoices(e.x)
		if !ok {
			return nil, false
		}
		r, ok := f.resolveChoices(e.y)
		if !ok {
			return nil, false
		}
		return append(l, r...), true
	}
	return nil, false
}
