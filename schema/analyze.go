package schema

import (
	"fmt"
	"path"
	"strings"
)

// file is one parsed Python module and what Cog's generator collects from
// it: imports, module constants, models, and Input() helpers.
type file struct {
	name       string // project-relative, slash separated
	src        string
	stmts      []*stmt
	imports    *imports
	scope      map[string]value
	models     *models
	typedDicts map[string]bool
	registry   registry
	proj       *project
}

func (f *file) text(e *expr) string { return f.src[e.start:e.end] }

// project reads the other modules of the project on demand.
type project struct {
	read    func(name string) ([]byte, error)
	files   map[string]*file
	loading map[string]bool
}

// posError is a schema problem at a place in a file.
type posError struct {
	file      string
	line, col int
	msg       string
}

func (e *posError) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.file, e.line, e.col, e.msg) }

func (f *file) errAt(line, col int, err error) error {
	if pe, ok := err.(*posError); ok {
		return pe
	}
	return &posError{file: f.name, line: line, col: col, msg: err.Error()}
}

func (p *project) parse(name string, src []byte) (*file, error) {
	stmts, err := parseModule(string(src))
	if err != nil {
		se := err.(*syntaxError)
		return nil, &posError{file: name, line: se.line, col: se.col, msg: "cannot parse Python: " + se.msg}
	}
	f := &file{name: name, src: string(src), stmts: stmts, proj: p, typedDicts: map[string]bool{}}
	f.collectImports()
	f.collectScope()
	f.models = newModels()
	f.collectModels(f.models)
	f.resolveExternalModels()
	// Local classes again, now that imported TypedDict parents are known.
	f.collectModels(f.models)
	f.collectRegistry()
	return f, nil
}

// load parses the project file for module (relative to from), or nil
// when it is not a project file or cannot be read.
func (p *project) load(module, from string) *file {
	if isKnownExternal(module) || p.read == nil {
		return nil
	}
	name := moduleFile(module, from)
	if name == "" {
		return nil
	}
	if f, ok := p.files[name]; ok {
		return f
	}
	if p.loading[name] {
		return nil
	}
	src, err := p.read(name)
	if err != nil {
		return nil
	}
	p.loading[name] = true
	defer delete(p.loading, name)
	f, err := p.parse(name, src)
	if err != nil {
		// An unparsable helper module resolves nothing, as in Cog.
		return nil
	}
	p.files[name] = f
	return f
}

// moduleFile maps a module to a project file: ".types" next to from,
// "pkg.mod" to pkg/mod.py from the project root.
func moduleFile(module, from string) string {
	if strings.HasPrefix(module, ".") && from != "" {
		level := len(module) - len(strings.TrimLeft(module, "."))
		clean := strings.TrimLeft(module, ".")
		if clean == "" {
			return ""
		}
		dir := path.Dir(from)
		for range level - 1 {
			if dir == "." {
				break
			}
			dir = path.Dir(dir)
		}
		return path.Join(dir, strings.ReplaceAll(clean, ".", "/")+".py")
	}
	clean := strings.TrimLeft(module, ".")
	if clean == "" {
		return ""
	}
	return strings.ReplaceAll(clean, ".", "/") + ".py"
}

// isKnownExternal lists modules Cog never looks for in the project.
func isKnownExternal(module string) bool {
	top, _, _ := strings.Cut(module, ".")
	switch strings.TrimLeft(top, ".") {
	case "builtins", "typing", "typing_extensions",
		"collections", "abc", "enum", "dataclasses",
		"os", "sys", "io", "json", "re", "math", "pathlib",
		"functools", "itertools", "contextlib",
		"concurrent", "asyncio", "multiprocessing", "threading",
		"logging", "warnings", "unittest", "pytest",
		"numpy", "torch", "tensorflow", "jax", "scipy", "sklearn",
		"transformers", "diffusers", "accelerate", "safetensors",
		"PIL", "cv2", "skimage",
		"requests", "httpx", "aiohttp", "fastapi", "flask",
		"pydantic", "cog":
		return true
	}
	return false
}

func (f *file) collectImports() {
	im := newImports()
	for _, s := range f.stmts {
		switch s.kind {
		case sImportFrom:
			for _, a := range s.names {
				if a.name != "*" {
					im.set(a.as, s.module, a.name)
				}
			}
		case sImport:
			for _, a := range s.names {
				im.set(a.as, a.name, a.name)
			}
		}
	}
	for _, b := range []string{"str", "int", "float", "bool", "list", "dict", "set", "None"} {
		if _, ok := im.get(b); !ok {
			im.set(b, "builtins", b)
		}
	}
	f.imports = im
}

func (f *file) collectScope() {
	f.scope = map[string]value{}
	for _, s := range f.stmts {
		if s.kind != sAssign || len(s.targets) != 1 || s.targets[0].kind != eName || s.value == nil {
			continue
		}
		if v, ok := f.literal(s.value); ok {
			f.scope[s.targets[0].name] = v
		}
	}
}

func (f *file) classes() []*stmt {
	var out []*stmt
	for _, s := range f.stmts {
		if s.kind == sClass {
			out = append(out, s)
		}
	}
	return out
}

func (f *file) inheritsBaseModel(c *stmt) bool {
	for _, b := range c.bases {
		switch b.kind {
		case eName:
			if f.imports.isBaseModel(b.name) || b.name == "BaseModel" {
				return true
			}
		case eAttr:
			if strings.HasSuffix(f.text(b), ".BaseModel") {
				return true
			}
		}
	}
	return false
}

func (f *file) typedDictInfo(c *stmt) (isTD, requiredByDefault bool, parents []string) {
	requiredByDefault = true
	for _, b := range c.bases {
		switch b.kind {
		case eName:
			if f.imports.isTypedDict(b.name) || b.name == "TypedDict" {
				isTD = true
			} else if f.typedDicts[b.name] {
				isTD = true
				parents = append(parents, b.name)
			}
		case eAttr:
			text := f.text(b)
			if strings.HasSuffix(text, ".TypedDict") {
				isTD = true
			} else if f.typedDicts[text] {
				isTD = true
				parents = append(parents, text)
			}
		}
	}
	for _, k := range c.keywords {
		if k.name == "total" && strings.TrimSpace(f.text(k.value)) == "False" {
			requiredByDefault = false
		}
	}
	return isTD, requiredByDefault, parents
}

func (f *file) collectModels(into *models) {
	for _, c := range f.classes() {
		isBM := f.inheritsBaseModel(c)
		isTD, reqDefault, parents := f.typedDictInfo(c)
		if !isBM && !isTD {
			continue
		}
		fields := f.classFields(c, isTD, reqDefault)
		if isTD {
			var merged []modelField
			idx := map[string]int{}
			add := func(m modelField) {
				if i, ok := idx[m.name]; ok {
					merged[i] = m
					return
				}
				idx[m.name] = len(merged)
				merged = append(merged, m)
			}
			for _, p := range parents {
				if pf, ok := into.get(p); ok {
					for _, m := range pf {
						add(m)
					}
				}
			}
			for _, m := range fields {
				add(m)
			}
			fields = merged
			f.typedDicts[c.name] = true
		}
		into.set(c.name, fields)
	}
}

func (f *file) classFields(c *stmt, isTD, reqDefault bool) []modelField {
	var out []modelField
	for _, s := range c.body {
		if s.kind != sAssign || s.ann == nil || len(s.targets) != 1 || s.targets[0].kind != eName {
			continue
		}
		a, err := f.annotation(s.ann)
		if err != nil {
			continue
		}
		m := modelField{name: s.targets[0].name, typ: a}
		if s.value != nil {
			if v, ok := f.literal(s.value); ok {
				m.def = &v
			}
		}
		if isTD {
			m.typ, m.keyRequired = f.typedDictField(a, reqDefault)
		}
		out = append(out, m)
	}
	return out
}

func (f *file) typedDictField(a annot, reqDefault bool) (annot, *bool) {
	t, fl := true, false
	dflt := reqDefault
	if a.kind != aGeneric || len(a.args) != 1 {
		return a, &dflt
	}
	switch {
	case a.name == "NotRequired" || strings.HasSuffix(a.name, ".NotRequired"):
		return a.args[0], &fl
	case a.name == "Required" || strings.HasSuffix(a.name, ".Required"):
		return a.args[0], &t
	case f.imports.isFieldQualifier(a.name):
		if e, _ := f.imports.get(a.name); e.original == "NotRequired" {
			return a.args[0], &fl
		}
		return a.args[0], &t
	}
	return a, &dflt
}

// resolveExternalModels brings in the models of project modules this file
// imports: by their own name, and as "alias.Name" for module imports.
func (f *file) resolveExternalModels() {
	for _, local := range f.imports.order {
		e := f.imports.names[local]
		mod, nested := e.module, false
		other := f.proj.load(mod, f.name)
		if other == nil {
			if n := nestedModule(e.module, e.original); n != e.module {
				mod, nested = n, true
				other = f.proj.load(mod, f.name)
			}
		}
		if other == nil {
			if fields, ok := f.models.get(e.original); ok {
				f.models.set(local, fields)
			}
			if f.typedDicts[e.original] {
				f.typedDicts[local] = true
			}
			continue
		}
		for _, n := range other.models.order {
			f.models.set(local+"."+n, other.models.fields[n])
		}
		for n := range other.typedDicts {
			f.typedDicts[local+"."+n] = true
		}
		if nested || e.original == e.module || e.module == "." {
			continue
		}
		if fields, ok := other.models.get(e.original); ok {
			f.models.set(local, fields)
		}
		if other.typedDicts[e.original] {
			f.typedDicts[local] = true
		}
		for _, n := range other.models.order {
			if _, ok := f.models.get(n); !ok {
				f.models.set(n, other.models.fields[n])
			}
		}
	}
}

func nestedModule(module, original string) string {
	if module == "" || original == "" {
		return module
	}
	if module == "." {
		return "." + original
	}
	return module + "." + original
}

// annotation parses a type annotation expression.
func (f *file) annotation(e *expr) (annot, error) {
	switch e.kind {
	case eName:
		return annot{kind: aSimple, name: e.name}, nil
	case eAttr:
		return annot{kind: aSimple, name: f.text(e)}, nil
	case eConst:
		if e.name == "None" {
			return annot{kind: aSimple, name: "None"}, nil
		}
	case eSubscript:
		outer := f.text(e.x)
		var args []annot
		for _, it := range e.items {
			a, err := f.annotation(it)
			if err != nil {
				return annot{}, err
			}
			args = append(args, a)
		}
		if len(args) == 0 {
			return annot{kind: aSimple, name: outer}, nil
		}
		return annot{kind: aGeneric, name: outer, args: args}, nil
	case eBinary:
		if e.op != "|" {
			return annot{}, errUnsupported("non-union binary operator in type annotation")
		}
		l, err := f.annotation(e.x)
		if err != nil {
			return annot{}, err
		}
		r, err := f.annotation(e.y)
		if err != nil {
			return annot{}, err
		}
		var members []annot
		for _, m := range []annot{l, r} {
			if m.kind == aUnion {
				members = append(members, m.args...)
			} else {
				members = append(members, m)
			}
		}
		return annot{kind: aUnion, args: members}, nil
	case eString:
		text := f.text(e)
		inner := strings.TrimRight(strings.TrimLeft(text, `"'`), `"'`)
		if a, ok := annotFromString(inner); ok {
			return a, nil
		}
		return annot{}, errUnsupported("string annotation: " + text)
	}
	text := f.text(e)
	if a, ok := annotFromString(text); ok {
		return a, nil
	}
	return annot{}, errUnsupported(nodeName(e) + ": " + text)
}

// nodeName names an expression as tree-sitter's Python grammar does, for
// messages that match Cog's.
func nodeName(e *expr) string {
	switch e.kind {
	case eCall:
		return "call"
	case eList:
		return "list"
	case eTuple:
		return "tuple"
	case eDict:
		return "dictionary"
	case eSet:
		return "set"
	case eNumber:
		return "integer"
	case eUnary:
		return "unary_operator"
	case eBinary:
		return "binary_operator"
	case eConst:
		switch e.name {
		case "True":
			return "true"
		case "False":
			return "false"
		}
		return "ellipsis"
	case eOther:
		if e.x != nil {
			return "parenthesized_expression"
		}
	}
	return "expression"
}

// annotFromString parses a forward reference ("Foo", "list[Foo] | None").
func annotFromString(s string) (annot, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return annot{}, false
	}
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return annotFromString(s[1 : len(s)-1])
	}
	if parts, ok := splitTop(s, '|'); ok {
		var members []annot
		for _, p := range parts {
			m, ok := annotFromString(p)
			if !ok {
				return annot{}, false
			}
			members = append(members, m)
		}
		if len(members) >= 2 {
			return annot{kind: aUnion, args: members}, true
		}
		return annot{}, false
	}
	if b := strings.Index(s, "["); b >= 0 && strings.HasSuffix(s, "]") {
		outer := strings.TrimSpace(s[:b])
		parts, _ := splitTop(s[b+1:len(s)-1], ',')
		if parts == nil {
			parts = []string{s[b+1 : len(s)-1]}
		}
		var args []annot
		for _, p := range parts {
			a, ok := annotFromString(p)
			if !ok {
				return annot{}, false
			}
			args = append(args, a)
		}
		return annot{kind: aGeneric, name: outer, args: args}, true
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return annot{}, false
		}
		for _, c := range part {
			if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
				return annot{}, false
			}
		}
	}
	return annot{kind: aSimple, name: s}, true
}

// splitTop splits s at sep outside brackets; ok says whether sep occurred.
func splitTop(s string, sep rune) ([]string, bool) {
	depth, start, found := 0, 0, false
	var parts []string
	for i, c := range s {
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		case sep:
			if depth == 0 {
				found = true
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	if !found {
		return nil, false
	}
	return append(parts, s[start:]), true
}
