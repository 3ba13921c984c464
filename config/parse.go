package config

import (
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/google/go-containerregistry/pkg/name"
	"go.yaml.in/yaml/v3"
)

var topLevelKeys = []string{"build", "image", "model", "run", "predict", "train", "concurrency", "environment", "weights"}

// Parse reads cog.yaml bytes into a validated Config with defaults filled in.
// filename is only used in positions ("cog.yaml" when empty). Every problem
// found is returned at once, joined with errors.Join; each is an *Error with
// the position of the offending value. A leading "# syntax=..." line is a
// YAML comment and needs no special handling.
func Parse(filename string, data []byte) (*Config, []Warning, error) {
	if filename == "" {
		filename = wire.ConfigFilename
	}
	w := &walker{problems: problems{file: filename}, src: SourceMap{}}
	cfg := &Config{Source: w.src}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, yamlSyntaxError(filename, data, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		// An empty cog.yaml is valid (Cog accepts it too): nothing to build
		// beyond the defaults.
		return cfg, nil, nil
	}
	root, ok := w.mapping(doc.Content[0], "", topLevelKeys...)
	if ok {
		w.parseTop(cfg, root)
		w.checkCrossRules(cfg, root)
	}
	if err := w.err(); err != nil {
		return nil, w.warnings, err
	}
	return cfg, w.warnings, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError turns yaml.v3's "yaml: line N: msg" into an *Error so it
// carries a position like every other problem. yaml.v3 reports no column
// (and for bad bytes no line), so the column is where the text of line N
// starts, and bad bytes are found here.
func yamlSyntaxError(filename string, data []byte, err error) error {
	msg := err.Error()
	pos := Position{File: filename}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
		pos.Column = lineTextColumn(data, pos.Line)
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
		pos.Line, pos.Column = badByte(data)
	}
	return &Error{Pos: pos, Msg: message("not valid YAML: "+msg, "", "fix the syntax (indentation, quoting, a missing \":\")")}
}

// lineTextColumn is the column (in characters, from 1) of the first
// non-blank character of line n, 1 for a blank line or one past the end.
func lineTextColumn(data []byte, n int) int {
	lines := strings.Split(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data)), "\n")
	if n < 1 || n > len(lines) {
		return 1
	}
	line := lines[n-1]
	trimmed := strings.TrimLeft(line, " ") // YAML indents with spaces only: a tab is text
	if trimmed == "" {
		return 1
	}
	return utf8.RuneCountInString(line[:len(line)-len(trimmed)]) + 1
}

// badByte is the line and column of the first byte YAML refuses: invalid
// UTF-8, or a control character other than tab, LF and CR (1:1 when there
// is none: the error is about the whole stream).
func badByte(data []byte) (line, col int) {
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if (r == utf8.RuneError && n <= 1) || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f {
			return line, col
		}
		if r == '\n' || (r == '\r' && (i+1 == len(data) || data[i+1] != '\n')) {
			line, col = line+1, 1
		} else {
			col++
		}
		i += n
	}
	return 1, 1
}

func (w *walker) parseTop(cfg *Config, root map[string]field) {
	if f, ok := root["build"]; ok && !isNull(f.val) {
		cfg.Build = w.parseBuild(f)
	}
	if f, ok := root["image"]; ok && !isNull(f.val) {
		cfg.Image = w.parseImage(f)
	}
	if f, ok := root["model"]; ok && !isNull(f.val) {
		cfg.Model = w.parseModel(f)
	}
	cfg.Run = w.parseRunRef(root)
	if f, ok := root["train"]; ok && !isNull(f.val) {
		cfg.Train = w.parseRef(f, "train.py:Trainer")
	}
	if f, ok := root["concurrency"]; ok && !isNull(f.val) {
		cfg.Concurrency = w.parseConcurrency(f)
	}
	if f, ok := root["environment"]; ok {
		cfg.Environment = w.parseEnvironment(f)
	}
	if f, ok := root["weights"]; ok {
		cfg.Weights = w.parseWeights(f)
	}
}

// parseRunRef handles run: and its deprecated alias predict:.
func (w *walker) parseRunRef(root map[string]field) string {
	run, hasRun := root["run"]
	pred, hasPredict := root["predict"]
	hasRun = hasRun && !isNull(run.val)
	hasPredict = hasPredict && !isNull(pred.val)
	switch {
	case hasRun && hasPredict:
		w.fail(w.pos(pred.key), "predict", "predict and run are both set", "",
			"predict is the deprecated name of run; keep only run")
		return ""
	case hasPredict:
		w.warn(w.pos(pred.key), "predict", `deprecated field "predict": use "run" instead; rename the key to run`)
		return w.parseRef(pred, "predict.py:Predictor")
	case hasRun:
		return w.parseRef(run, "predict.py:Predictor")
	}
	return ""
}

var pyIdentRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseRef checks a "file.py:ClassName" reference: a project-relative Python
// file and a Python identifier.
func (w *walker) parseRef(f field, example string) string {
	s, ok := w.str(f)
	if !ok {
		return ""
	}
	allowed := "write it as file.py:ClassName, e.g. " + example
	file, class, found := strings.Cut(s, ":")
	switch {
	case !found || !strings.HasSuffix(file, ".py") || len(file) == len(".py"):
		w.fail(w.valuePos(f), f.path, "must name a Python file and a class", quote(s), allowed)
	case !pyIdentRE.MatchString(class):
		w.fail(w.valuePos(f), f.path, "the part after \":\" must be a Python class name", quote(s), allowed)
	case !isProjectRelative(file):
		w.fail(w.valuePos(f), f.path, "the file must be inside the project", quote(s),
			"use a path relative to the directory holding cog.yaml, without \"..\"")
	default:
		return s
	}
	return ""
}

// isProjectRelative says whether p names something inside the project
// directory: relative, and not escaping it with "..".
func isProjectRelative(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
		return false
	}
	c := path.Clean(p)
	return c != "." && c != ".." && !strings.HasPrefix(c, "../")
}

func (w *walker) parseImage(f field) string {
	s, ok := w.str(f)
	if !ok {
		return ""
	}
	if _, err := name.ParseReference(s); err != nil || strings.TrimSpace(s) != s {
		w.fail(w.valuePos(f), f.path, "is not a valid image reference", quote(s),
			"use a name such as registry.example.com/acct/model:tag")
		return ""
	}
	return s
}

func (w *walker) parseModel(f field) string {
	s, ok := w.str(f)
	if !ok {
		return ""
	}
	if _, err := name.NewRepository(s); err != nil || strings.TrimSpace(s) != s {
		w.fail(w.valuePos(f), f.path, "must be a bare repository without a tag or digest", quote(s),
			"use a name such as registry.example.com/acct/model")
		return ""
	}
	return s
}

var concurrencyKeys = []string{"max", "default_target"}

func (w *walker) parseConcurrency(f field) *Concurrency {
	m, ok := w.mapping(f.val, f.path, concurrencyKeys...)
	if !ok {
		return nil
	}
	c := &Concurrency{}
	maxF, hasMax := m["max"]
	if !hasMax || isNull(maxF.val) {
		w.fail(w.valuePos(f), joinPath(f.path, "max"), "is required", "", "set max to the number of predictions to run at once (at least 1)")
	} else if n, ok := w.integer(maxF); ok {
		w.warn(w.pos(maxF.key), maxF.path, `deprecated field "concurrency.max": use "@cog.concurrent(max=...)" instead; decorate your async run() with @cog.concurrent(max=`+strconv.Itoa(n)+`)`)
		if n < 1 {
			w.fail(w.valuePos(maxF), maxF.path, "must be at least 1", strconv.Itoa(n), "")
		}
		c.Max = n
	}
	if dt, ok := m["default_target"]; ok && !isNull(dt.val) {
		if n, ok := w.integer(dt); ok {
			if n < 1 || (c.Max >= 1 && n > c.Max) {
				w.fail(w.valuePos(dt), dt.path, "must be between 1 and concurrency.max", strconv.Itoa(n), "")
			}
			c.DefaultTarget = n
		}
	}
	return c
}

// checkCrossRules checks rules that involve more than one key.
func (w *walker) checkCrossRules(cfg *Config, root map[string]field) {
	if cfg.Image != "" && cfg.Model != "" {
		w.fail(w.pos(root["model"].key), "model", "image and model are both set", "",
			"keep one: model is the repository for a bundle with weights, image is the name of a plain image")
	}
	if wf, ok := root["weights"]; ok && len(cfg.Weights) > 0 && cfg.Model == "" {
		// A model: with a bad value has been reported already.
		if mf, hasModel := root["model"]; !hasModel || isNull(mf.val) {
			w.fail(w.pos(wf.key), "weights", "weights need a model repository", "",
				"add model: <registry>/<repository> at the top level (the repository the bundle and its weights are pushed to)")
		}
	}
	if cfg.Concurrency != nil && cfg.Concurrency.Max > 1 && cfg.Build != nil && cfg.Build.PythonVersion != "" {
		if minor, ok := pythonMinor(cfg.Build.PythonVersion); ok && minor < 11 {
			w.fail(w.src["concurrency.max"], "concurrency.max",
				"concurrency above 1 needs Python 3.11 or newer", "max "+strconv.Itoa(cfg.Concurrency.Max)+" with Python "+cfg.Build.PythonVersion,
				"set build.python_version to \"3.11\" or newer, or max to 1")
		}
	}
}
