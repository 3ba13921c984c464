package schema

// inputInfo is what an Input(...) call says about a parameter.
type inputInfo struct {
	def         *value
	description *string
	ge, le      *float64
	minLength   *uint64
	maxLength   *uint64
	regex       *string
	choices     []value
	deprecated  *bool
	accept      *string
}

type inputMethod struct {
	params []string
	info   inputInfo
}

// registry holds Input() calls kept in class attributes or returned by
// methods, so that "x: int = Inputs.x" resolves as in Cog.
type registry struct {
	attrs   map[string]inputInfo
	methods map[string]inputMethod
}

func (f *file) collectRegistry() {
	f.registry = registry{attrs: map[string]inputInfo{}, methods: map[string]inputMethod{}}
	for _, c := range f.classes() {
		for _, s := range c.body {
			switch s.kind {
			case sAssign:
				if s.ann != nil || len(s.targets) != 1 || s.targets[0].kind != eName || s.value == nil || !f.isInputCall(s.value) {
					continue
				}
				key := c.name + "." + s.targets[0].name
				if info, err := f.inputCall(s.value, key); err == nil {
					f.registry.attrs[key] = info
				}
			case sDef:
				var names []string
				for _, p := range s.params {
					if p.star == 0 && p.name != "self" && p.name != "cls" {
						names = append(names, p.name)
					}
				}
				for _, b := range s.body {
					if b.kind == sReturn && b.value != nil && f.isInputCall(b.value) {
						key := c.name + "." + s.name
						if info, err := f.inputCall(b.value, key); err == nil {
							f.registry.methods[key] = inputMethod{params: names, info: info}
						}
						break
					}
				}
			}
		}
	}
}

func (f *file) isInputCall(e *expr) bool {
	if e.kind != eCall {
		return false
	}
	name := f.text(e.x)
	if name == "Input" {
		return true
	}
	en, ok := f.imports.get(name)
	return ok && en.module == "cog" && en.original == "Input"
}

// inputCall reads the keyword arguments of an Input(...) call.
func (f *file) inputCall(e *expr, param string) (inputInfo, error) {
	var info inputInfo
	for _, kw := range e.kwargs {
		v := kw.value
		switch kw.name {
		case "default":
			d, ok := f.resolveDefault(v)
			if !ok {
				d = value{kind: vNone}
			}
			info.def = &d
		case "default_factory":
			return inputInfo{}, errf("parameter '%s': default_factory is not supported in static schema generation", param)
		case "description":
			if s, ok := f.resolveString(v); ok {
				info.description = &s
			}
		case "ge":
			if n, ok := f.number(v); ok {
				info.ge = &n
			}
		case "le":
			if n, ok := f.number(v); ok {
				info.le = &n
			}
		case "min_length":
			if n, ok := f.number(v); ok {
				u := uint64(n)
				info.minLength = &u
			}
		case "max_length":
			if n, ok := f.number(v); ok {
				u := uint64(n)
				info.maxLength = &u
			}
		case "regex":
			if s, ok := f.stringLiteral(v); ok {
				info.regex = &s
			}
		case "choices":
			items, ok := f.resolveChoices(v)
			if !ok {
				return inputInfo{}, errf("parameter '%s': choices expression cannot be statically resolved", param)
			}
			info.choices = items
		case "deprecated":
			if b, ok := f.boolean(v); ok {
				info.deprecated = &b
			}
		case "accept":
			if s, ok := f.stringLiteral(v); ok {
				info.accept = &s
			}
		}
	}
	return info, nil
}

// inputReference resolves "Class.attr" and "Class.method(...)" defaults.
func (f *file) inputReference(e *expr) (inputInfo, bool) {
	switch e.kind {
	case eAttr:
		info, ok := f.registry.attrs[f.text(e)]
		return info, ok
	case eCall:
		if e.x.kind != eAttr {
			return inputInfo{}, false
		}
		m, ok := f.registry.methods[f.text(e.x)]
		if !ok {
			return inputInfo{}, false
		}
		info := m.info
		args := map[string]*expr{}
		for i, a := range e.items {
			if i < len(m.params) {
				args[m.params[i]] = a
			}
		}
		for _, kw := range e.kwargs {
			args[kw.name] = kw.value
		}
		for name, v := range args {
			switch name {
			case "default":
				if d, ok := f.literal(v); ok {
					info.def = &d
				}
			case "description":
				if s, ok := f.stringLiteral(v); ok {
					info.description = &s
				}
			case "ge":
				if n, ok := f.number(v); ok {
					info.ge = &n
				}
			case "le":
				if n, ok := f.number(v); ok {
					info.le = &n
				}
			}
		}
		return info, true
	}
	return inputInfo{}, false
}

// inputField is one input of the predictor, as the schema shows it.
type inputField struct {
	name  string
	order int
	ft    fieldType
	it    inputType
	info  inputInfo
	line  int
	col   int
}

// inputs extracts the parameters of fn (skipping self for a method).
func (f *file) inputs(fn *stmt, isMethod bool) ([]inputField, error) {
	var out []inputField
	seenSelf := false
	for _, p := range fn.params {
		if p.star != 0 {
			continue
		}
		at := func(err error) error { return f.errAt(p.line, p.col, err) }
		if p.ann == nil {
			if p.def != nil {
				return nil, at(errf("parameter '%s' on %s has no type annotation", p.name, fn.name))
			}
			if isMethod && !seenSelf && p.name == "self" {
				seenSelf = true
			}
			continue
		}
		a, err := f.annotation(p.ann)
		if err != nil {
			return nil, at(err)
		}
		it, err := resolveInput(a, f.imports, f.typedDicts)
		if err != nil {
			return nil, at(err)
		}
		field := inputField{name: p.name, order: len(out), it: it, ft: fieldFromInput(it), line: p.line, col: p.col}
		if p.def != nil {
			switch info, isRef := f.inputReference(p.def); {
			case f.isInputCall(p.def):
				info, err := f.inputCall(p.def, p.name)
				if err != nil {
					return nil, at(err)
				}
				field.info = info
			case isRef:
				field.info = info
			default:
				d, ok := f.resolveDefault(p.def)
				if !ok {
					return nil, at(errf("parameter '%s': default `%s` cannot be statically resolved", p.name, f.text(p.def)))
				}
				field.info.def = &d
			}
			if field.info.accept != nil && field.ft.prim != pPath && field.ft.prim != pFile {
				return nil, at(errf("accept is only valid on Path or File inputs (parameter '%s')", p.name))
			}
		}
		if it.kind == ikUnion && (len(field.info.choices) > 0 || field.info.ge != nil || field.info.le != nil ||
			field.info.minLength != nil || field.info.maxLength != nil || field.info.regex != nil) {
			return nil, at(errUnsupported("constraints and choices are not supported on union inputs"))
		}
		if err := checkDefault(field); err != nil {
			return nil, at(err)
		}
		out = append(out, field)
	}
	return out, nil
}

// checkDefault fails a default outside the input's own constraints. Cog
// validates the generated document (kin-openapi) and refuses such a
// schema; this says the same with the parameter's name.
func checkDefault(fd inputField) error {
	d := fd.info.def
	if d == nil || d.kind != vInt && d.kind != vFloat {
		return nil
	}
	x := d.f
	if d.kind == vInt {
		x = float64(d.i)
	}
	if fd.info.ge != nil && x < *fd.info.ge {
		return errf("invalid default for input '%s': %v is less than minimum %v", fd.name, d.toJSON(), *fd.info.ge)
	}
	if fd.info.le != nil && x > *fd.info.le {
		return errf("invalid default for input '%s': %v is greater than maximum %v", fd.name, d.toJSON(), *fd.info.le)
	}
	return nil
}

// inputSchema is the Input (or TrainingInput) component and the enum
// components of inputs with choices, in Cog's shape.
func inputSchema(fields []inputField) (map[string]any, [][2]any) {
	props := &omap{}
	var req []string
	var enums [][2]any
	for _, fd := range fields {
		prop := map[string]any{"x-order": fd.order}
		if len(fd.info.choices) > 0 {
			typ, _ := fd.ft.prim.jsonType()["type"].(string)
			if typ == "" {
				typ = "string"
			}
			vals := make([]any, len(fd.info.choices))
			for i, c := range fd.info.choices {
				vals[i] = c.toJSON()
			}
			enums = append(enums, [2]any{fd.name, map[string]any{
				"title": fd.name, "description": "An enumeration.", "enum": vals, "type": typ,
			}})
			prop["allOf"] = []any{map[string]any{"$ref": "#/components/schemas/" + fd.name}}
		} else {
			prop["title"] = titleCase(fd.name)
			for k, v := range fd.it.jsonSchema() {
				prop[k] = v
			}
		}
		// None is "no default" except where null is allowed, and for a bare
		// Secret, where it means an optional credential (as in Cog).
		nullable := fd.ft.rep == optional || fd.ft.rep == optionalRepeated || fd.it.nullable
		d := fd.info.def
		if fd.ft.prim == pSecret && fd.ft.rep == required && d != nil && d.kind == vNone {
			nullable = true
		}
		hasDefault := d != nil && !(d.kind == vNone && !nullable)
		if !hasDefault && (fd.it.kind == ikUnion || fd.ft.rep == required || fd.ft.rep == repeated) {
			req = append(req, fd.name)
		}
		if hasDefault {
			prop["default"] = d.toJSON()
		}
		if nullable {
			prop["nullable"] = true
		}
		in := fd.info
		if in.description != nil {
			prop["description"] = *in.description
		}
		if in.ge != nil {
			prop["minimum"] = *in.ge
		}
		if in.le != nil {
			prop["maximum"] = *in.le
		}
		if in.minLength != nil {
			prop["minLength"] = *in.minLength
		}
		if in.maxLength != nil {
			prop["maxLength"] = *in.maxLength
		}
		if in.regex != nil {
			prop["pattern"] = *in.regex
		}
		if in.deprecated != nil && *in.deprecated {
			prop["deprecated"] = true
		}
		if in.accept != nil {
			prop["x-cog-accept"] = *in.accept
		}
		props.set(fd.name, prop)
	}
	s := map[string]any{"title": "Input", "type": "object", "properties": props}
	if len(req) > 0 {
		s["required"] = req
	}
	return s, enums
}

func (it inputType) jsonSchema() map[string]any {
	var s map[string]any
	switch it.kind {
	case ikPrim:
		s = it.prim.jsonType()
	case ikArray:
		items := pAny.jsonType()
		if it.elem != nil {
			items = it.elem.jsonSchema()
		}
		s = map[string]any{"type": "array", "items": items}
	case ikUnion:
		vs := make([]any, len(it.variants))
		for i, v := range it.variants {
			vj := v.jsonSchema()
			if it.nullable {
				vj["nullable"] = true
			}
			vs[i] = vj
		}
		s = map[string]any{"anyOf": vs}
	default:
		s = pAny.jsonType()
	}
	if it.nullable {
		s["nullable"] = true
	}
	return s
}
