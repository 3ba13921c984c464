package schema

import (
	"fmt"
	"strings"
)

// prim is a scalar Cog type.
type prim int

const (
	pBool prim = iota
	pFloat
	pInt
	pStr
	pPath
	pFile
	pSecret
	pAny
)

var primNames = [...]string{"bool", "float", "int", "str", "Path", "File", "Secret", "Any"}

func (p prim) String() string { return primNames[p] }

func primFromName(name string) (prim, bool) {
	for i, n := range primNames {
		if n == name {
			return prim(i), true
		}
	}
	return 0, false
}

// jsonType is the JSON Schema of a scalar, as Cog writes it.
func (p prim) jsonType() map[string]any {
	switch p {
	case pBool:
		return map[string]any{"type": "boolean"}
	case pFloat:
		return map[string]any{"type": "number"}
	case pInt:
		return map[string]any{"type": "integer"}
	case pStr:
		return map[string]any{"type": "string"}
	case pPath, pFile:
		return map[string]any{"type": "string", "format": "uri"}
	case pSecret:
		return map[string]any{"type": "string", "format": "password", "writeOnly": true, "x-cog-secret": true}
	}
	return map[string]any{"type": "object"}
}

// rep is a field's cardinality in Cog's flat input model.
type rep int

const (
	required rep = iota
	optional
	repeated
	optionalRepeated
)

type fieldType struct {
	prim prim
	rep  rep
}

// annot is a parsed type annotation before resolution.
type annot struct {
	kind annotKind
	name string
	args []annot
}

type annotKind int

const (
	aSimple annotKind = iota
	aGeneric
	aUnion
)

// inputKind tags inputType.
type inputKind int

const (
	ikPrim inputKind = iota
	ikAny
	ikArray
	ikUnion
)

// inputType is an input's type: a scalar, opaque JSON, an array or a union.
type inputType struct {
	kind     inputKind
	prim     prim
	elem     *inputType
	variants []inputType
	nullable bool
}

func inPrim(p prim) inputType {
	if p == pAny {
		return inputType{kind: ikAny, prim: pAny}
	}
	return inputType{kind: ikPrim, prim: p}
}

func inAny() inputType              { return inputType{kind: ikAny, prim: pAny} }
func inArray(e inputType) inputType { return inputType{kind: ikArray, elem: &e} }

// outKind tags outType.
type outKind int

const (
	okPrim outKind = iota
	okAny
	okArray
	okDict
	okObject
	okIterator
	okConcatIterator
)

// outType is an output's type, recursive.
type outType struct {
	kind     outKind
	prim     prim
	elem     *outType // array items, dict values, iterator elements
	fields   []outField
	nullable bool
}

type outField struct {
	name     string
	typ      outType
	def      *value
	required bool
}

// modelField is a field of a BaseModel or TypedDict class.
type modelField struct {
	name        string
	typ         annot
	def         *value
	keyRequired *bool
}

// importEntry says where a local name was imported from.
type importEntry struct{ module, original string }

type imports struct {
	order []string
	names map[string]importEntry
}

func newImports() *imports { return &imports{names: map[string]importEntry{}} }

func (im *imports) set(local, module, original string) {
	if _, ok := im.names[local]; !ok {
		im.order = append(im.order, local)
	}
	im.names[local] = importEntry{module, original}
}

func (im *imports) get(name string) (importEntry, bool) { e, ok := im.names[name]; return e, ok }

func isTypingModule(m string) bool { return m == "typing" || m == "typing_extensions" }

func (im *imports) isBaseModel(name string) bool {
	e, ok := im.get(name)
	return ok && (e.module == "cog" || e.module == "pydantic" || e.module == "pydantic.v1") && e.original == "BaseModel"
}

func (im *imports) isTypedDict(name string) bool {
	e, ok := im.get(name)
	return ok && isTypingModule(e.module) && e.original == "TypedDict"
}

func (im *imports) isFieldQualifier(name string) bool {
	e, ok := im.get(name)
	return ok && isTypingModule(e.module) && (e.original == "Required" || e.original == "NotRequired")
}

// qualified splits "alias.Type" into Type and alias's entry; ok is false
// for a name without a dot.
func (im *imports) qualified(name string) (string, importEntry, bool) {
	head, tail, ok := strings.Cut(name, ".")
	if !ok {
		return name, importEntry{}, false
	}
	e := im.names[head]
	return tail, e, true
}

func (im *imports) isOpaque(name string) bool {
	if resolved, e, ok := im.qualified(name); ok {
		return resolved == "Opaque" && e.module == "cog"
	}
	e, ok := im.get(name)
	return ok && e.module == "cog" && e.original == "Opaque"
}

func (im *imports) isAnnotated(name string) bool {
	if resolved, e, ok := im.qualified(name); ok {
		return resolved == "Annotated" && isTypingModule(e.module) && e.original == e.module
	}
	e, ok := im.get(name)
	return ok && isTypingModule(e.module) && e.original == "Annotated"
}

// typeError is a schema error without a position yet; the caller knows
// which parameter or annotation it belongs to.
type typeError struct{ msg string }

func (e *typeError) Error() string { return e.msg }

func errf(format string, args ...any) error { return &typeError{fmt.Sprintf(format, args...)} }

func errUnsupported(msg string) error { return errf("unsupported type: %s", msg) }

func errUnresolvableImported(name, module string) error {
	return errf("cannot resolve type '%s' (imported from '%s') - "+
		"external types cannot be statically analyzed. "+
		"If this is a JSON-shaped third-party type, mark it opaque with "+
		"`from typing import Annotated`, `from cog import Opaque`, and `field: Annotated[%s, Opaque]`. "+
		"Otherwise define it as a BaseModel subclass in your predict file, or provide a .pyi stub",
		name, module, name)
}

func errUnresolvable(name string) error {
	return errf("cannot resolve type '%s' - "+
		"it is not a primitive type (str, int, float, bool, Path) "+
		"and no BaseModel definition was found in the predict file", name)
}

var errOptionalOutput = &typeError{"unsupported output type: Optional is not allowed as a return type"}

// unwrapOptional returns X for Optional[X], Union[X, None] and X | None.
func unwrapOptional(a annot) (annot, bool) {
	if a.kind == aGeneric && a.name == "Optional" && len(a.args) == 1 {
		return a.args[0], true
	}
	if (a.kind == aGeneric && a.name == "Union" || a.kind == aUnion) && len(a.args) == 2 {
		for i := range a.args {
			if a.args[i].kind == aSimple && a.args[i].name == "None" {
				return a.args[1-i], true
			}
		}
	}
	return a, false
}

func (im *imports) unwrapOpaque(a annot) (annot, bool) {
	if a.kind != aGeneric || !im.isAnnotated(a.name) || len(a.args) < 2 {
		return a, false
	}
	for _, m := range a.args[1:] {
		if m.kind == aSimple && im.isOpaque(m.name) {
			return a.args[0], true
		}
	}
	return a, false
}

// containerName names list/List/Optional/Union as Cog's opaque handling
// sees them: builtin list, or typing's containers however imported.
func (im *imports) containerName(name string) (string, bool) {
	if resolved, e, ok := im.qualified(name); ok {
		if isTypingModule(e.module) && e.original == e.module && isTypingContainer(resolved) {
			return resolved, true
		}
		return "", false
	}
	if e, ok := im.get(name); ok {
		if e.module == "builtins" && e.original == "list" {
			return "list", true
		}
		if isTypingModule(e.module) && isTypingContainer(e.original) {
			return e.original, true
		}
		return "", false
	}
	if name == "list" {
		return "list", true
	}
	return "", false
}

func isTypingContainer(n string) bool { return n == "List" || n == "Optional" || n == "Union" }

func (im *imports) unwrapOpaqueOptional(a annot) (annot, bool) {
	if a.kind == aGeneric {
		name, ok := im.containerName(a.name)
		if !ok {
			return a, false
		}
		if name == "Optional" && len(a.args) == 1 {
			return a.args[0], true
		}
		if name == "Union" && len(a.args) == 2 {
			for i := range a.args {
				if a.args[i].kind == aSimple && a.args[i].name == "None" {
					return a.args[1-i], true
				}
			}
		}
	}
	return unwrapOptional(a)
}

func (im *imports) opaqueField(inner annot) fieldType {
	if u, ok := im.unwrapOpaque(inner); ok {
		return im.opaqueField(u)
	}
	optionalOf := func(a annot) fieldType {
		ft := im.opaqueField(a)
		if ft.rep == repeated {
			return fieldType{pAny, optionalRepeated}
		}
		return fieldType{pAny, optional}
	}
	if inner.kind == aSimple {
		if n, ok := im.containerName(inner.name); ok && (n == "List" || n == "list") {
			return fieldType{pAny, repeated}
		}
	}
	if inner.kind == aGeneric {
		outer, isContainer := im.containerName(inner.name)
		if o, ok := im.unwrapOpaqueOptional(inner); ok {
			return optionalOf(o)
		}
		if !isContainer {
			return fieldType{pAny, required}
		}
		switch outer {
		case "List", "list":
			return fieldType{pAny, repeated}
		case "Optional":
			if len(inner.args) == 1 {
				return optionalOf(inner.args[0])
			}
		}
	}
	if inner.kind == aUnion {
		if o, ok := unwrapOptional(inner); ok {
			return optionalOf(o)
		}
	}
	return fieldType{pAny, required}
}

func inputFromField(ft fieldType) inputType {
	var it inputType
	if ft.prim == pAny {
		it = inAny()
	} else {
		it = inPrim(ft.prim)
	}
	if ft.rep == repeated || ft.rep == optionalRepeated {
		it = inArray(it)
	}
	if ft.rep == optional || ft.rep == optionalRepeated {
		it.nullable = true
	}
	return it
}

func fieldFromInput(it inputType) fieldType {
	r := required
	if it.nullable {
		r = optional
	}
	switch it.kind {
	case ikPrim:
		return fieldType{it.prim, r}
	case ikArray:
		ar := repeated
		if it.nullable {
			ar = optionalRepeated
		}
		if it.elem != nil && it.elem.kind == ikPrim {
			return fieldType{it.elem.prim, ar}
		}
		return fieldType{pAny, ar}
	}
	return fieldType{pAny, r}
}

// resolveInput resolves an input parameter's annotation.
func resolveInput(a annot, im *imports, typedDicts map[string]bool) (inputType, error) {
	if inner, ok := im.unwrapOpaque(a); ok {
		return inputFromField(im.opaqueField(inner)), nil
	}
	switch a.kind {
	case aSimple:
		name := a.name
		if typedDicts[name] {
			return inAny(), nil
		}
		var qe importEntry
		if resolved, e, ok := im.qualified(name); ok {
			name, qe = resolved, e
			if typedDicts[e.original+"."+name] {
				return inAny(), nil
			}
		}
		if typedDicts[name] || name == "dict" || name == "Dict" {
			return inAny(), nil
		}
		p, ok := primFromName(name)
		if !ok {
			if qe.module != "" {
				return inputType{}, errUnresolvableImported(name, qe.module)
			}
			if e, ok := im.get(name); ok {
				return inputType{}, errUnresolvableImported(name, e.module)
			}
			return inputType{}, errUnsupported(name)
		}
		return inPrim(p), nil
	case aGeneric:
		outer := a.name
		if resolved, _, ok := im.qualified(outer); ok {
			outer = resolved
		}
		switch {
		case outer == "dict" || outer == "Dict":
			return inAny(), nil
		case outer == "Optional":
			if len(a.args) != 1 {
				return inputType{}, errUnsupported(fmt.Sprintf("Optional expects exactly 1 type argument, got %d", len(a.args)))
			}
			inner, err := resolveInput(a.args[0], im, typedDicts)
			if err != nil {
				return inputType{}, err
			}
			inner.nullable = true
			return inner, nil
		case outer == "Union":
			return resolveInputUnion(a.args, im, typedDicts)
		case im.isAnnotated(a.name):
			if len(a.args) == 0 {
				return inputType{}, errUnsupported("Annotated expects at least 1 type argument")
			}
			return resolveInput(a.args[0], im, typedDicts)
		case outer == "List" || outer == "list":
			if len(a.args) != 1 {
				return inputType{}, errUnsupported(fmt.Sprintf("List expects exactly 1 type argument, got %d", len(a.args)))
			}
			var inner inputType
			if o, ok := im.unwrapOpaque(a.args[0]); ok {
				inner = inputFromField(im.opaqueField(o))
			} else {
				var err error
				if inner, err = resolveInput(a.args[0], im, typedDicts); err != nil {
					return inputType{}, err
				}
			}
			if inner.nullable || inner.kind == ikArray || inner.kind == ikUnion {
				return inputType{}, errUnsupported("nested generics like List[Optional[X]] are not supported")
			}
			return inArray(inner), nil
		}
		return inputType{}, errUnsupported(fmt.Sprintf("%s[...] is not a supported input type", outer))
	case aUnion:
		return resolveInputUnion(a.args, im, typedDicts)
	}
	return inputType{}, errUnsupported("unknown type annotation")
}

func resolveInputUnion(args []annot, im *imports, typedDicts map[string]bool) (inputType, error) {
	var variants []inputType
	nullable := false
	for _, arg := range args {
		if arg.kind == aSimple && arg.name == "None" {
			nullable = true
			continue
		}
		if arg.kind == aUnion || arg.kind == aGeneric && arg.name == "Union" {
			return inputType{}, errUnsupported("nested union inputs are not supported")
		}
		v, err := resolveInput(arg, im, typedDicts)
		if err != nil {
			return inputType{}, err
		}
		if v.kind == ikUnion {
			return inputType{}, errUnsupported("nested union inputs are not supported")
		}
		variants = append(variants, v)
	}
	switch len(variants) {
	case 0:
		return inputType{}, errUnsupported("union inputs must include at least one non-None type")
	case 1:
		v := variants[0]
		v.nullable = v.nullable || nullable
		return v, nil
	}
	for _, v := range variants {
		if err := validateUnionVariant(v); err != nil {
			return inputType{}, err
		}
	}
	return inputType{kind: ikUnion, variants: variants, nullable: nullable}, nil
}

func validateUnionVariant(v inputType) error {
	if v.nullable {
		return errUnsupported("nested nullable variants are not supported in union inputs")
	}
	switch v.kind {
	case ikPrim:
		if v.prim == pPath || v.prim == pFile || v.prim == pSecret {
			return errUnsupported(fmt.Sprintf("%s is not supported in union inputs", v.prim))
		}
	case ikArray:
		if v.elem != nil {
			return validateUnionVariant(*v.elem)
		}
	case ikUnion:
		return errUnsupported("nested union inputs are not supported")
	}
	return nil
}

// models are the BaseModel and TypedDict classes known by name (also by
// "alias.Name" for classes of imported modules), in definition order.
type models struct {
	order  []string
	fields map[string][]modelField
}

func newModels() *models { return &models{fields: map[string][]modelField{}} }

func (m *models) set(name string, f []modelField) {
	if _, ok := m.fields[name]; !ok {
		m.order = append(m.order, name)
	}
	m.fields[name] = f
}

func (m *models) get(name string) ([]modelField, bool) { f, ok := m.fields[name]; return f, ok }

// resolveOutput resolves a return annotation (or a model field's).
func resolveOutput(a annot, im *imports, ms *models, seen map[string]bool) (outType, error) {
	if inner, ok := im.unwrapOpaque(a); ok {
		if _, ok := im.unwrapOpaqueOptional(inner); ok {
			return outType{}, errOptionalOutput
		}
		return im.opaqueOut(inner), nil
	}
	if a.kind == aGeneric && im.isAnnotated(a.name) {
		if len(a.args) == 0 {
			return outType{}, errUnsupported("Annotated expects at least 1 type argument")
		}
		return resolveOutput(a.args[0], im, ms, seen)
	}
	switch a.kind {
	case aSimple:
		return resolveSimpleOutput(a, im, ms, seen)
	case aGeneric:
		return resolveGenericOutput(a, im, ms, seen)
	case aUnion:
		if _, ok := unwrapOptional(a); ok {
			return outType{}, errOptionalOutput
		}
		return outType{}, errUnsupported("union types are not supported as output")
	}
	return outType{}, errUnsupported("unknown type annotation")
}

func (im *imports) opaqueOut(inner annot) outType {
	anyArray := outType{kind: okArray, elem: &outType{kind: okPrim, prim: pAny}}
	if inner.kind == aSimple {
		if n, ok := im.containerName(inner.name); ok && (n == "list" || n == "List") {
			return anyArray
		}
	}
	if inner.kind == aGeneric {
		if n, ok := im.containerName(inner.name); ok && (n == "list" || n == "List") && len(inner.args) == 1 {
			return anyArray
		}
	}
	return outType{kind: okPrim, prim: pAny}
}

func resolveSimpleOutput(a annot, im *imports, ms *models, seen map[string]bool) (outType, error) {
	name := a.name
	if f, ok := ms.get(name); ok {
		return resolveNamedModel(name, f, im, ms, seen)
	}
	var qe importEntry
	qualified := false
	if resolved, e, ok := im.qualified(name); ok {
		name, qe, qualified = resolved, e, true
		if f, ok := ms.get(e.original + "." + name); ok {
			return resolveNamedModel(e.original+"."+name, f, im, ms, seen)
		}
	}
	if !qualified {
		if f, ok := ms.get(name); ok {
			return resolveNamedModel(name, f, im, ms, seen)
		}
	}
	if name == "Any" || name == "dict" || name == "Dict" {
		return outType{kind: okAny}, nil
	}
	if n, ok := im.containerName(a.name); ok && (n == "list" || n == "List") {
		return outType{kind: okArray, elem: &outType{kind: okAny}}, nil
	}
	p, ok := primFromName(name)
	if !ok {
		if qe.module != "" {
			return outType{}, errUnresolvableImported(name, qe.module)
		}
		if e, ok := im.get(name); ok {
			return outType{}, errUnresolvableImported(name, e.module)
		}
		return outType{}, errUnresolvable(name)
	}
	return outType{kind: okPrim, prim: p}, nil
}

func resolveNamedModel(name string, fields []modelField, im *imports, ms *models, seen map[string]bool) (outType, error) {
	// A model that contains itself becomes an opaque object.
	if seen[name] {
		return outType{kind: okAny}, nil
	}
	if seen == nil {
		seen = map[string]bool{}
	}
	seen[name] = true
	defer delete(seen, name)
	out := outType{kind: okObject, fields: []outField{}}
	for _, f := range fields {
		t, req, err := resolveModelField(f.typ, im, ms, seen)
		if err != nil {
			return outType{}, fmt.Errorf("field %q: %w", f.name, err)
		}
		if f.keyRequired != nil {
			req = *f.keyRequired
		}
		if f.def != nil {
			req = false
		}
		of := outField{name: f.name, typ: t, def: f.def, required: req}
		replaced := false
		for i := range out.fields {
			if out.fields[i].name == f.name {
				out.fields[i], replaced = of, true
			}
		}
		if !replaced {
			out.fields = append(out.fields, of)
		}
	}
	return out, nil
}

func resolveModelField(a annot, im *imports, ms *models, seen map[string]bool) (outType, bool, error) {
	fieldOptional := func(a annot) (annot, bool) {
		if inner, ok := im.unwrapOpaqueOptional(a); ok {
			return inner, true
		}
		return unwrapOptional(a)
	}
	if inner, ok := im.unwrapOpaque(a); ok {
		if o, ok := fieldOptional(inner); ok {
			t := im.opaqueOut(o)
			t.nullable = true
			return t, false, nil
		}
		return im.opaqueOut(inner), true, nil
	}
	if a.kind == aGeneric && im.isAnnotated(a.name) {
		if len(a.args) == 0 {
			return outType{}, false, errUnsupported("Annotated expects at least 1 type argument")
		}
		return resolveModelField(a.args[0], im, ms, seen)
	}
	if inner, ok := fieldOptional(a); ok {
		t, err := resolveOutput(inner, im, ms, seen)
		if err != nil {
			return outType{}, false, err
		}
		t.nullable = true
		return t, false, nil
	}
	t, err := resolveOutput(a, im, ms, seen)
	return t, true, err
}

func resolveGenericOutput(a annot, im *imports, ms *models, seen map[string]bool) (outType, error) {
	outer := a.name
	if resolved, _, ok := im.qualified(outer); ok {
		outer = resolved
	}
	switch outer {
	case "dict", "Dict":
		switch len(a.args) {
		case 2:
			v, err := resolveOutput(a.args[1], im, ms, seen)
			if err != nil {
				return outType{}, fmt.Errorf("resolving dict value type: %w", err)
			}
			return outType{kind: okDict, elem: &v}, nil
		case 0:
			return outType{kind: okAny}, nil
		}
		return outType{}, errUnsupported("dict expects 0 or 2 type arguments")
	case "Optional":
		if len(a.args) != 1 {
			return outType{}, errUnsupported("Optional expects exactly 1 type argument")
		}
		return outType{}, errOptionalOutput
	case "Union":
		if _, ok := unwrapOptional(annot{kind: aUnion, args: a.args}); ok {
			return outType{}, errOptionalOutput
		}
		return outType{}, errUnsupported("union types are not supported as output")
	}
	if n, ok := im.containerName(a.name); ok && (n == "List" || n == "list") {
		if len(a.args) != 1 {
			return outType{}, errUnsupported("list expects exactly 1 type argument")
		}
		e, err := resolveOutput(a.args[0], im, ms, seen)
		if err != nil {
			return outType{}, err
		}
		return outType{kind: okArray, elem: &e}, nil
	}
	switch outer {
	case "Iterator", "AsyncIterator":
		if len(a.args) != 1 {
			return outType{}, errUnsupported("Iterator expects exactly 1 type argument")
		}
		e, err := resolveOutput(a.args[0], im, ms, seen)
		if err != nil {
			return outType{}, err
		}
		return outType{kind: okIterator, elem: &e}, nil
	case "ConcatenateIterator", "AsyncConcatenateIterator":
		if len(a.args) != 1 {
			return outType{}, errUnsupported("ConcatenateIterator expects exactly 1 type argument")
		}
		inner := a.args[0]
		if inner.kind != aSimple {
			return outType{}, errUnsupported("ConcatenateIterator element type must be a simple type")
		}
		if p, ok := primFromName(inner.name); !ok || p != pStr {
			return outType{}, errf("ConcatenateIterator element type must be str, got %s", inner.name)
		}
		return outType{kind: okConcatIterator, elem: &outType{kind: okPrim, prim: pStr}}, nil
	}
	return outType{}, errUnsupported(fmt.Sprintf("%s[...] is not a supported output type", outer))
}

// jsonSchema is the output type's JSON Schema; the top level is titled
// "Output".
func (t outType) jsonSchema(top bool) map[string]any {
	r := t.core()
	if top {
		r["title"] = "Output"
	}
	if t.nullable {
		r["nullable"] = true
	}
	return r
}

func (t outType) core() map[string]any {
	items := func() map[string]any {
		if t.elem == nil {
			return map[string]any{"type": "object"}
		}
		return t.elem.jsonSchema(false)
	}
	switch t.kind {
	case okPrim:
		return t.prim.jsonType()
	case okArray:
		return map[string]any{"type": "array", "items": items()}
	case okDict:
		r := map[string]any{"type": "object"}
		if t.elem != nil {
			r["additionalProperties"] = t.elem.jsonSchema(false)
		}
		return r
	case okObject:
		props := &omap{}
		var req []string
		for _, f := range t.fields {
			p := f.typ.jsonSchema(false)
			p["title"] = titleCase(f.name)
			if f.required && f.def == nil {
				req = append(req, f.name)
			}
			props.set(f.name, p)
		}
		r := map[string]any{"type": "object", "properties": props}
		if len(req) > 0 {
			r["required"] = req
		}
		return r
	case okIterator:
		return map[string]any{"type": "array", "items": items(), "x-cog-array-type": "iterator"}
	case okConcatIterator:
		return map[string]any{"type": "array", "items": items(), "x-cog-array-type": "iterator", "x-cog-array-display": "concatenate"}
	}
	return map[string]any{"type": "object"}
}

// titleCase is Cog's title: snake_case words, each capitalised.
func titleCase(s string) string {
	parts := strings.Split(s, "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, " ")
}
