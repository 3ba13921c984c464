package frontend

import (
	"strconv"
	"strings"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/schema"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/solver/pb"
)

// Rules of `--call check` (frontend.lint) and `cog-frontend check`: what
// the build would refuse or warn about, found without building.
const (
	RuleInvalidConfig    = "InvalidConfig"    // cog.yaml an error
	RuleDeprecatedField  = "DeprecatedField"  // a deprecated cog.yaml key or method
	RuleConfigWarning    = "ConfigWarning"    // any other cog.yaml warning
	RuleNoPredictor      = "NoPredictor"      // neither run/predict nor train
	RuleInvalidPredictor = "InvalidPredictor" // predict.py/train.py cannot give a schema
	RuleRequirements     = "InvalidRequirements"
)

var ruleDescriptions = map[string]string{
	RuleInvalidConfig:    "cog.yaml has an error the build would fail on",
	RuleDeprecatedField:  "A deprecated field or method is used",
	RuleConfigWarning:    "cog.yaml has something the build would warn about",
	RuleNoPredictor:      "cog.yaml names no predictor, so the image serves no predictions",
	RuleInvalidPredictor: "The predictor's source cannot give an OpenAPI schema; the build would fail",
	RuleRequirements:     "The Python requirements break a rule the build would fail on",
}

// Check lints a project: cog.yaml (src: its name, bytes and definition),
// and through read the files it names (requirements, predict.py, train.py
// and the modules they import). It is pure: the gateway and the CLI give
// it their own read.
func Check(src *llb.SourceMap, read func(name string) ([]byte, error)) *lint.LintResults {
	res := &lint.LintResults{}
	if src.Definition == nil {
		src.Definition = &llb.Definition{}
	}
	sources := map[string]int{src.Filename: res.AddSource(src)}
	add := func(rule, msg string, pos config.Position) {
		file := pos.File
		if file == "" {
			file = src.Filename
		}
		idx, ok := sources[file]
		var data []byte
		if ok {
			data = res.Sources[idx].Data
		} else if dt, err := read(file); err == nil {
			m := llb.NewSourceMap(nil, file, language(file), dt)
			m.Definition = src.Definition
			idx, data = res.AddSource(m), dt
			sources[file] = idx
		} else {
			idx = -1
		}
		var ranges []parser.Range
		if r := lineRange(data, pos); r != nil && idx >= 0 {
			ranges = []parser.Range{{
				Start: parser.Position{Line: int(r.Start.Line), Character: int(r.Start.Character)},
				End:   parser.Position{Line: int(r.End.Line), Character: int(r.End.Character)},
			}}
		}
		if ranges == nil {
			// A finding without a line still names its file.
			ranges = []parser.Range{{Start: parser.Position{Line: 1}, End: parser.Position{Line: 1}}}
			if idx < 0 {
				idx = sources[src.Filename]
			}
		}
		if pos.Line > 0 {
			// The text names file:line:col itself: BuildKit's printers
			// show the line only, and buildx shows no file but -f's.
			p := pos
			p.File = file
			msg = p.String() + ": " + msg
		}
		res.AddWarning(rule, ruleDescriptions[rule], "", msg, idx, ranges)
	}
	addErr := func(rule string, err error) {
		ces := config.Errors(err)
		if len(ces) == 0 {
			add(rule, err.Error(), config.Position{})
		}
		for _, ce := range ces {
			msg := ce.Msg
			if ce.Path != "" && !strings.HasPrefix(msg, "invalid ") && !strings.HasPrefix(msg, "deprecated ") {
				msg = ce.Path + ": " + msg
			}
			add(rule, msg, ce.Pos)
		}
	}
	addWarnings := func(ws []config.Warning) {
		for _, w := range ws {
			rule := RuleConfigWarning
			if strings.Contains(w.Message, "deprecated") {
				rule = RuleDeprecatedField
			}
			add(rule, w.Message, w.Pos)
		}
	}

	cfg, warnings, err := config.Parse(src.Filename, src.Data)
	addWarnings(warnings)
	if err != nil {
		addErr(RuleInvalidConfig, err)
		return res
	}
	if b := cfg.Build; b != nil {
		var reqs []byte
		if b.PythonRequirements != "" {
			if reqs, err = read(b.PythonRequirements); err != nil {
				add(RuleInvalidConfig, "build.python_requirements: cannot read "+b.PythonRequirements+" from the project", cfg.Source["build.python_requirements"])
			}
		}
		if err := config.CheckTorchPinned(cfg, b.PythonRequirements, reqs); err != nil {
			addErr(RuleRequirements, err)
		}
		if b.GPU {
			c, bc := *cfg, *b
			c.Build = &bc
			if _, err := config.ResolveCUDA(&c, string(reqs)); err != nil {
				addErr(RuleInvalidConfig, err)
			}
		}
	}
	if cfg.Run == "" && cfg.Train == "" {
		add(RuleNoPredictor, noPredictorMessage, config.Position{File: src.Filename, Line: 1, Column: 1})
		return res
	}
	if err := config.CheckStaticSchemaSDK(cfg); err != nil {
		addErr(RuleInvalidConfig, err)
		return res
	}
	sr, err := schema.Generate(schemaInput(cfg, read))
	if err != nil {
		addErr(RuleInvalidPredictor, err)
		return res
	}
	addWarnings(sr.Warnings)
	if _, err := withDecoratorConcurrency(cfg, sr); err != nil {
		addErr(RuleInvalidPredictor, err)
	}
	return res
}

// noPredictorMessage is Cog's refusal of a cog.yaml without a predictor,
// with what to do about it.
const noPredictorMessage = `no predict or train reference found in cog.yaml: add run: "predict.py:Predictor" naming your predictor, ` +
	`or build an environment image (what cog exec runs) with --build-arg ` + BuildArgSkipSchemaValidation + `=1`

// noPredictorError is noPredictorMessage at the top of cog.yaml.
func noPredictorError(file string) error {
	return &config.Error{Pos: config.Position{File: file, Line: 1, Column: 1}, Msg: noPredictorMessage}
}

func language(file string) string {
	switch {
	case strings.HasSuffix(file, ".py"):
		return "Python"
	case strings.HasSuffix(file, ".yaml"), strings.HasSuffix(file, ".yml"):
		return "YAML"
	}
	return "Text"
}

// forBuildx adapts findings for buildx, which prints every source under the
// build file's name (-f): a finding in another file (predict.py,
// requirements.txt) names its file and line in its text instead of showing
// that file's lines as if they were cog.yaml's.
func forBuildx(res *lint.LintResults, buildFile string) *lint.LintResults {
	for i := range res.Warnings {
		w := &res.Warnings[i]
		src := res.Sources[w.Location.SourceIndex]
		if src.Filename == buildFile {
			continue
		}
		if len(w.Location.Ranges) > 0 {
			line := int(w.Location.Ranges[0].Start.Line)
			if !strings.HasPrefix(w.Detail, src.Filename+":") {
				w.Detail = src.Filename + ":" + strconv.Itoa(line) + ": " + w.Detail
			}
			if text := sourceLine(src.Data, line); text != "" {
				w.Detail += "\n    " + text
			}
		}
		w.Location = &pb.Location{SourceIndex: -1}
	}
	return res
}

func sourceLine(data []byte, line int) string {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	return strings.TrimSpace(lines[line-1])
}
