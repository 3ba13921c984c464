package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/cog-frontend/cog-frontend/config"
)

// Mode is what a reference serves: predictions (run:/predict:) or
// trainings (train:).
type Mode int

const (
	Predict Mode = iota
	Train
)

// Input is everything the schema is computed from.
type Input struct {
	// Predict and Train are cog.yaml's references, "file.py:Name"; either
	// may be empty, not both.
	Predict, Train string
	// PredictKey and TrainKey are the cog.yaml keys they came from ("run",
	// "predict", "train"), for errors about the reference itself.
	PredictKey, TrainKey string
	// ReadFile returns a project file by its slash-separated path relative
	// to the project root (the referenced files and the modules they
	// import). An error means the file does not exist.
	ReadFile func(name string) ([]byte, error)
	// Version is info.version: the version of the cog package the image
	// installs, which Cog's tests compare with the run.cog.version label.
	Version string
	// Config gives the positions of cog.yaml's keys; may be nil.
	Config *config.Config
}

// Result is the schema and the non-fatal findings.
type Result struct {
	// JSON is the run.cog.openapi_schema label and /src/.cog/openapi_schema.json,
	// byte for byte what Cog 0.22.0 writes.
	JSON     []byte
	Warnings []config.Warning
	// Streaming says that /predictions accepts server-sent events
	// (x-cog-streaming: the predict function is decorated @cog.streaming).
	Streaming bool
	// Concurrency is @cog.concurrent's max on the predictor (the trainer
	// without one), 0 without the decorator; Async says it is async def.
	// Cog takes the image's concurrency from them when cog.yaml has none.
	Concurrency int
	Async       bool
	// ConcurrencyPos is where the decorator is.
	ConcurrencyPos config.Position
}

// Generate computes the OpenAPI schema of a Cog model from its source. It
// is a pure function of in: errors are *config.Error values naming the
// .py file, line and column (or cog.yaml's key for a bad reference),
// joined with errors.Join when predict and train both fail.
func Generate(in Input) (*Result, error) {
	if in.Predict == "" && in.Train == "" {
		return nil, &config.Error{Pos: keyPos(in.Config, "run"), Msg: "no predict or train reference found in cog.yaml; add run: \"predict.py:Predictor\" naming your predictor"}
	}
	p := &project{read: in.ReadFile, files: map[string]*file{}, loading: map[string]bool{}}
	res := &Result{}
	var docs []map[string]any
	var errs []error
	for _, t := range []struct {
		ref, key string
		mode     Mode
	}{{in.Predict, in.PredictKey, Predict}, {in.Train, in.TrainKey, Train}} {
		if t.ref == "" {
			continue
		}
		info, ws, err := p.predictor(t.ref, t.mode)
		if err != nil {
			errs = append(errs, toConfigError(err, in.Config, t.key))
			continue
		}
		res.Warnings = append(res.Warnings, ws...)
		if t.mode == Predict {
			res.Streaming = info.streaming
		}
		if t.mode == Predict || in.Predict == "" {
			res.Concurrency, res.Async, res.ConcurrencyPos = info.concurrency, info.async, info.concurrencyPos
		}
		docs = append(docs, openAPI(info, in.Version))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(docs) == 1 {
		dt, err := json.Marshal(docs[0])
		if err != nil {
			return nil, err
		}
		res.JSON = dt
		return res, nil
	}
	// Both: Cog merges the two documents as generic JSON and writes them
	// indented, keys sorted (GenerateCombined); so does this.
	var merged []map[string]any
	for _, d := range docs {
		dt, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(dt, &m); err != nil {
			return nil, err
		}
		merged = append(merged, m)
	}
	pr, tr := merged[0], merged[1]
	mergeInto(pr, tr, "paths")
	if pc, ok := pr["components"].(map[string]any); ok {
		if tc, ok := tr["components"].(map[string]any); ok {
			mergeInto(pc, tc, "schemas")
		}
	}
	dt, err := json.MarshalIndent(pr, "", "  ")
	if err != nil {
		return nil, err
	}
	res.JSON = dt
	return res, nil
}

func mergeInto(dst, src map[string]any, key string) {
	d, _ := dst[key].(map[string]any)
	s, _ := src[key].(map[string]any)
	if d == nil || s == nil {
		return
	}
	for k, v := range s {
		if _, ok := d[k]; !ok {
			d[k] = v
		}
	}
}

func keyPos(c *config.Config, keys ...string) config.Position {
	if c == nil {
		return config.Position{}
	}
	for _, k := range keys {
		if p, ok := c.Source[k]; ok {
			return p
		}
	}
	return config.Position{}
}

func toConfigError(err error, c *config.Config, key string) error {
	var pe *posError
	if errors.As(err, &pe) {
		return &config.Error{Pos: config.Position{File: pe.file, Line: pe.line, Column: pe.col}, Msg: pe.msg}
	}
	return &config.Error{Pos: keyPos(c, key), Path: key, Msg: err.Error()}
}

// predictorInfo is what the schema is made of.
type predictorInfo struct {
	mode           Mode
	inputs         []inputField
	output         outType
	streaming      bool
	async          bool
	concurrency    int
	concurrencyPos config.Position
}

// predictor finds the class or function ref names and reads its inputs
// and output.
func (p *project) predictor(ref string, mode Mode) (*predictorInfo, []config.Warning, error) {
	fileName, name, ok := strings.Cut(ref, ":")
	if !ok || fileName == "" || name == "" {
		return nil, nil, errf("invalid predict reference '%s' — expected format: file.py:ClassName or file.py:function_name", ref)
	}
	clean := path.Clean(fileName)
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, nil, errf("predictor source path %q is outside source directory", fileName)
	}
	if p.read == nil {
		return nil, nil, errf("failed to read predictor source %s", clean)
	}
	src, err := p.read(clean)
	if err != nil {
		return nil, nil, errf("failed to read predictor source %s: %v; check that the file exists in the project and is not excluded by .dockerignore", clean, err)
	}
	f, err := p.parse(clean, src)
	if err != nil {
		return nil, nil, err
	}
	p.files[clean] = f
	fn, owner, ws, err := f.target(name, mode)
	if err != nil {
		return nil, nil, err
	}
	isMethod := false
	for _, pr := range fn.params {
		if pr.ann == nil && pr.def == nil && pr.star == 0 {
			isMethod = pr.name == "self"
			break
		}
	}
	inputs, err := owner.inputs(fn, isMethod)
	if err != nil {
		return nil, nil, err
	}
	if fn.returns == nil {
		return nil, nil, owner.errAt(fn.nameLine, fn.nameCol, errf("missing return type annotation on %s", fn.name))
	}
	at := func(err error) error { return owner.errAt(fn.returns.line, fn.returns.col, err) }
	ra, err := owner.annotation(fn.returns)
	if err != nil {
		return nil, nil, at(err)
	}
	out, err := resolveOutput(ra, owner.imports, owner.models, nil)
	if err != nil {
		return nil, nil, at(err)
	}
	info := &predictorInfo{mode: mode, inputs: inputs, output: out}
	info.streaming = owner.hasCogDecorator(fn, "streaming")
	if info.streaming && out.kind != okIterator && out.kind != okConcatIterator {
		return nil, nil, at(errf("@streaming requires Iterator[...], AsyncIterator[...], ConcatenateIterator[...] or AsyncConcatenateIterator[...] return type"))
	}
	info.async = fn.async
	if info.concurrency, info.concurrencyPos, err = owner.concurrent(fn); err != nil {
		return nil, nil, err
	}
	return info, ws, nil
}

// target finds the callable: a class with run()/predict() (inherited
// ones too) or train(), else a module function named name, else one named
// after the mode.
func (f *file) target(name string, mode Mode) (*stmt, *file, []config.Warning, error) {
	method := "predict"
	if mode == Train {
		method = "train"
	}
	for _, c := range f.classes() {
		if c.name != name {
			continue
		}
		if mode == Train {
			for _, s := range c.body {
				if s.kind == sDef && s.name == method {
					return s, f, nil, nil
				}
			}
			return nil, nil, nil, f.errAt(c.nameLine, c.nameCol, errf("%s.%s not found", name, method))
		}
		run, pred := f.collectPredictMethods(c, map[string]bool{})
		if run.fn != nil {
			return run.fn, run.file, nil, nil
		}
		if pred.fn != nil {
			w := config.Warning{
				Pos:     config.Position{File: pred.file.name, Line: pred.fn.nameLine, Column: pred.fn.nameCol},
				Message: fmt.Sprintf("%s.predict() is deprecated; use run() instead", name),
			}
			return pred.fn, pred.file, []config.Warning{w}, nil
		}
		return nil, nil, nil, f.errAt(c.nameLine, c.nameCol, errf("%s must define run() or predict()", name))
	}
	for _, n := range []string{name, method} {
		for _, s := range f.stmts {
			if s.kind == sDef && s.name == n {
				return s, f, nil, nil
			}
		}
	}
	return nil, nil, nil, f.errAt(1, 1, errf("predictor not found: %s (no class or function of that name in %s)", name, f.name))
}

type methodRef struct {
	fn   *stmt
	file *file
}

func (f *file) collectPredictMethods(c *stmt, seen map[string]bool) (run, pred methodRef) {
	key := f.name + ":" + c.name
	if seen[key] {
		return
	}
	seen[key] = true
	for _, s := range c.body {
		if s.kind != sDef {
			continue
		}
		switch s.name {
		case "run":
			run = methodRef{s, f}
		case "predict":
			pred = methodRef{s, f}
		}
	}
	for _, b := range c.bases {
		parent, ok := dotted(b)
		if !ok {
			continue
		}
		pf, pc := f.findParentClass(parent)
		if pc == nil {
			continue
		}
		pr, pp := pf.collectPredictMethods(pc, seen)
		if run.fn == nil {
			run = pr
		}
		if pred.fn == nil {
			pred = pp
		}
	}
	return run, pred
}

func (f *file) findParentClass(parent string) (*file, *stmt) {
	for _, c := range f.classes() {
		if c.name == parent {
			return f, c
		}
	}
	var module, class, original string
	if head, tail, ok := strings.Cut(parent, "."); ok {
		e, ok := f.imports.get(head)
		if !ok {
			return nil, nil
		}
		module, original, class = e.module, e.original, tail
	} else if e, ok := f.imports.get(parent); ok {
		module, original, class = e.module, e.original, e.original
	} else {
		return nil, nil
	}
	pf := f.proj.load(module, f.name)
	if pf == nil {
		pf = f.proj.load(nestedModule(module, original), f.name)
	}
	if pf == nil {
		return nil, nil
	}
	for _, c := range pf.classes() {
		if c.name == class {
			return pf, c
		}
	}
	return nil, nil
}

// hasCogDecorator tells whether fn is decorated with cog's name
// (@cog.streaming with "import cog", or @streaming imported from cog).
func (f *file) hasCogDecorator(fn *stmt, name string) bool {
	for _, d := range fn.decorators {
		if f.isCogDecorator(d, name) {
			return true
		}
	}
	return false
}

func (f *file) isCogDecorator(d *expr, name string) bool {
	if d.kind == eCall {
		d = d.x
	}
	switch d.kind {
	case eAttr:
		head, attr, ok := strings.Cut(f.text(d), ".")
		if !ok || attr != name {
			return false
		}
		e, ok := f.imports.get(head)
		return ok && e.module == "cog" && e.original == "cog"
	case eName:
		e, ok := f.imports.get(d.name)
		return ok && e.module == "cog" && e.original == name
	}
	return false
}

// concurrent reads @cog.concurrent(max=N) with Cog's rules: 0 without the
// decorator, 1 for a bare one.
func (f *file) concurrent(fn *stmt) (int, config.Position, error) {
	for _, d := range fn.decorators {
		if !f.isCogDecorator(d, "concurrent") {
			continue
		}
		pos := config.Position{File: f.name, Line: d.line, Column: d.col}
		at := func(msg string) error { return f.errAt(d.line, d.col, errf("%s", msg)) }
		max := int64(1)
		if d.kind == eCall && (len(d.items) > 0 || len(d.kwargs) > 0) {
			if len(d.items) != 0 || len(d.kwargs) != 1 || d.kwargs[0].name != "max" {
				return 0, pos, at("@concurrent only supports literal integer max=... arguments")
			}
			v, ok := f.literal(d.kwargs[0].value)
			if !ok || v.kind != vInt {
				return 0, pos, at("@concurrent max must be an integer literal")
			}
			if v.i < 1 {
				return 0, pos, at("@concurrent max must be at least 1")
			}
			max = v.i
		}
		if max > 1 && !fn.async {
			return 0, pos, at("@concurrent(max > 1) requires an async run() or predict() method")
		}
		return int(max), pos, nil
	}
	return 0, config.Position{}, nil
}

// openAPI is Cog's OpenAPI 3.0.2 document around the predictor's input
// and output, with Cog's key order: omap where Cog keeps insertion order,
// Go maps (sorted on output) elsewhere.
func openAPI(info *predictorInfo, version string) map[string]any {
	train := info.mode == Train
	endpoint, req, resp, cancel, summary, desc, opID, cancelOp, cancelParam, inKey, outKey :=
		"/predictions", "PredictionRequest", "PredictionResponse", "/predictions/{prediction_id}/cancel",
		"Predict", "Run a single prediction on the model", "predict_predictions_post",
		"cancel_predictions__prediction_id__cancel_post", "prediction_id", "Input", "Output"
	if train {
		endpoint, req, resp, cancel, summary, desc, opID, cancelOp, cancelParam, inKey, outKey =
			"/trainings", "TrainingRequest", "TrainingResponse", "/trainings/{training_id}/cancel",
			"Train", "Run a single training on the model", "train_trainings_post",
			"cancel_trainings__training_id__cancel_post", "training_id", "TrainingInput", "TrainingOutput"
	}
	in, enums := inputSchema(info.inputs)
	in["title"] = inKey
	comps := &omap{}
	comps.set(inKey, in)
	comps.set(outKey, info.output.jsonSchema(true))
	for _, e := range enums {
		comps.set(e[0].(string), e[1])
	}
	inRef, outRef := "#/components/schemas/"+inKey, "#/components/schemas/"+outKey
	str := func(title string) map[string]any { return map[string]any{"title": title, "type": "string"} }
	date := func(title string) map[string]any {
		return map[string]any{"title": title, "type": "string", "format": "date-time"}
	}
	comps.set(req, map[string]any{"title": req, "type": "object", "properties": map[string]any{
		"id": str("Id"), "input": map[string]any{"$ref": inRef},
	}})
	comps.set(resp, map[string]any{"title": resp, "type": "object", "properties": map[string]any{
		"input": map[string]any{"$ref": inRef}, "output": map[string]any{"$ref": outRef},
		"id": str("Id"), "version": str("Version"),
		"created_at": date("Created At"), "started_at": date("Started At"), "completed_at": date("Completed At"),
		"status": str("Status"), "error": str("Error"), "logs": str("Logs"),
		"metrics": map[string]any{"title": "Metrics", "type": "object"},
	}})
	comps.set("Status", map[string]any{"title": "Status", "description": "An enumeration.",
		"enum": []any{"starting", "processing", "succeeded", "canceled", "failed"}, "type": "string"})
	comps.set("HTTPValidationError", map[string]any{"title": "HTTPValidationError", "type": "object",
		"properties": map[string]any{"detail": map[string]any{"title": "Detail", "type": "array",
			"items": map[string]any{"$ref": "#/components/schemas/ValidationError"}}}})
	comps.set("ValidationError", map[string]any{"title": "ValidationError", "required": []any{"loc", "msg", "type"},
		"type": "object", "properties": map[string]any{
			"loc": map[string]any{"title": "Location", "type": "array", "items": map[string]any{
				"anyOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}},
			"msg":  str("Message"),
			"type": str("Error Type"),
		}})

	jsonContent := func(schema map[string]any) map[string]any {
		return map[string]any{"application/json": map[string]any{"schema": schema}}
	}
	ok := func(schema map[string]any) map[string]any {
		return map[string]any{"description": "Successful Response", "content": jsonContent(schema)}
	}
	invalid := map[string]any{"description": "Validation Error",
		"content": jsonContent(map[string]any{"$ref": "#/components/schemas/HTTPValidationError"})}
	paths := &omap{}
	paths.set("/", map[string]any{"get": map[string]any{"summary": "Root", "operationId": "root__get",
		"responses": map[string]any{"200": ok(map[string]any{})}}})
	paths.set("/health-check", map[string]any{"get": map[string]any{"summary": "Healthcheck",
		"operationId": "healthcheck_health_check_get", "responses": map[string]any{"200": ok(map[string]any{})}}})
	op := map[string]any{
		"summary": summary, "description": desc, "operationId": opID,
		"requestBody": map[string]any{"content": jsonContent(map[string]any{"$ref": "#/components/schemas/" + req})},
		"responses": map[string]any{
			"200": ok(map[string]any{"$ref": "#/components/schemas/" + resp}),
			"422": invalid,
		},
	}
	if !train && info.streaming {
		op["x-cog-streaming"] = true
	}
	paths.set(endpoint, map[string]any{"post": op})
	paths.set(cancel, map[string]any{"post": map[string]any{
		"summary": "Cancel", "operationId": cancelOp,
		"parameters": []any{map[string]any{"required": true,
			"schema": map[string]any{"title": titleCase(cancelParam), "type": "string"},
			"name":   cancelParam, "in": "path"}},
		"responses": map[string]any{"200": ok(map[string]any{}), "422": invalid},
	}})
	return map[string]any{
		"openapi":    "3.0.2",
		"info":       map[string]any{"title": "Cog", "version": version},
		"paths":      paths,
		"components": map[string]any{"schemas": comps},
	}
}
