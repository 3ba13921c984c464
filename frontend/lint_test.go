package frontend

import (
	"bytes"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/schema"
	"github.com/moby/buildkit/client/llb"
)

func readFrom(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := m[name]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
}

// finding is one lint warning as rule, file:line and message.
type finding struct{ rule, at, msg string }

func findings(t *testing.T, cogYAML string, files map[string]string) []finding {
	t.Helper()
	res := Check(llb.NewSourceMap(nil, "cog.yaml", "YAML", []byte(cogYAML)), readFrom(files))
	var out []finding
	for _, w := range res.Warnings {
		src := res.Sources[w.Location.SourceIndex]
		at := src.Filename + ":" + itoa(int(w.Location.Ranges[0].Start.Line))
		out = append(out, finding{w.RuleName, at, w.Detail})
	}
	var buf bytes.Buffer
	if err := res.PrintTo(&buf, nil); err != nil {
		t.Fatalf("PrintTo: %v", err)
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

const runPredictor = "from cog import BasePredictor\n\nclass Runner(BasePredictor):\n    def run(self, s: str) -> str:\n        return s\n\nclass Predictor(BasePredictor):\n    def run(self, s: str) -> str:\n        return s\n"

func TestCheckFindings(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		files      map[string]string
		want       []finding
	}{{
		name:  "clean project",
		yaml:  "build:\n  python_version: \"3.12\"\nrun: predict.py:Predictor\n",
		files: map[string]string{"predict.py": runPredictor},
	}, {
		name: "unknown key, old Python and deprecated fields",
		yaml: "build:\n  python_version: \"3.9\"\n  pre_install:\n    - echo\npredict: predict.py:Predictor\nfoo: 1\n",
		want: []finding{
			{RuleDeprecatedField, "cog.yaml:3", `cog.yaml:3:3: deprecated field "build.pre_install": use "build.run" instead; move these commands to build.run`},
			{RuleDeprecatedField, "cog.yaml:5", `cog.yaml:5:1: deprecated field "predict": use "run" instead; rename the key to run`},
			{RuleInvalidConfig, "cog.yaml:6", `cog.yaml:6:1: foo: unknown key (got "foo"); allowed keys here: build, image, model, run, predict, train, concurrency, environment, weights`},
			{RuleInvalidConfig, "cog.yaml:2", `cog.yaml:2:19: invalid build.python_version "3.9": minimum supported Python version is 3.10; use "3.10" or newer`},
		},
	}, {
		name: "no predictor",
		yaml: "build:\n  python_version: \"3.12\"\n",
		want: []finding{{RuleNoPredictor, "cog.yaml:1", "cog.yaml:1:1: " + noPredictorMessage}},
	}, {
		name:  "schema error in predict.py",
		yaml:  "build:\n  python_version: \"3.12\"\nrun: predict.py:Predictor\n",
		files: map[string]string{"predict.py": "from cog import BasePredictor, Input\n\nclass Predictor(BasePredictor):\n    def run(self, n: str = Input(accept=\"image/*\")) -> str:\n        return n\n"},
		want:  []finding{{RuleInvalidPredictor, "predict.py:4", "predict.py:4:19: accept is only valid on Path or File inputs (parameter 'n')"}},
	}, {
		name:  "unpinned torch on GPU",
		yaml:  "build:\n  gpu: true\n  python_version: \"3.12\"\n  python_requirements: requirements.txt\nrun: predict.py:Predictor\n",
		files: map[string]string{"predict.py": runPredictor, "requirements.txt": "numpy\ntorch\n"},
		want:  []finding{{RuleRequirements, "requirements.txt:2", "requirements.txt:2:1: torch version must be specified when using CUDA; pin it (e.g. torch==2.7.1), which also picks the CUDA version"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := findings(t, tc.yaml, tc.files)
			if len(got) != len(tc.want) {
				t.Fatalf("findings = %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("finding %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// buildx shows every source under the -f file's name, so findings in other
// files carry their place in the text.
func TestForBuildxNamesOtherFiles(t *testing.T) {
	res := Check(llb.NewSourceMap(nil, "cog.yaml", "YAML", []byte("build:\n  python_version: \"3.12\"\nrun: predict.py:Predictor\n")),
		readFrom(map[string]string{"predict.py": "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def run(self, n: Foo) -> str:\n        return n\n"}))
	res = forBuildx(res, "cog.yaml")
	if len(res.Warnings) != 1 {
		t.Fatalf("warnings = %v", res.Warnings)
	}
	w := res.Warnings[0]
	if w.Location.SourceIndex != -1 || w.Detail != "predict.py:4:19: unsupported type: Foo\n    def run(self, n: Foo) -> str:" {
		t.Errorf("finding = %q at source %d", w.Detail, w.Location.SourceIndex)
	}
	var buf bytes.Buffer
	if err := res.PrintTo(&buf, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDecoratorConcurrencyBecomesTheConfigs(t *testing.T) {
	parse := func(y string) *config.Config {
		cfg, _, err := config.Parse("cog.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	gen := func(cfg *config.Config, src string) *schema.Result {
		r, err := schema.Generate(schemaInput(cfg, readFrom(map[string]string{"predict.py": src})))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	async4 := "import cog\nfrom cog import BaseRunner\n\nclass Runner(BaseRunner):\n    @cog.concurrent(max=4)\n    async def run(self) -> str:\n        return ''\n"
	cfg := parse("build:\n  python_version: \"3.12\"\nrun: predict.py:Runner\n")
	got, err := withDecoratorConcurrency(cfg, gen(cfg, async4))
	if err != nil || got.Concurrency == nil || got.Concurrency.Max != 4 || cfg.Concurrency != nil {
		t.Errorf("effective concurrency = %+v, %v (input config must stay unchanged: %+v)", got.Concurrency, err, cfg.Concurrency)
	}
	old := parse("build:\n  python_version: \"3.10\"\nrun: predict.py:Runner\n")
	if _, err := withDecoratorConcurrency(old, gen(old, async4)); err == nil || !strings.Contains(err.Error(), "predict.py:5:6: concurrency requires Python 3.11 or higher") {
		t.Errorf("Python 3.10 with max=4: %v", err)
	}
	sync := parse("build:\n  python_version: \"3.12\"\nrun: predict.py:Runner\nconcurrency:\n  max: 2\n")
	if _, err := withDecoratorConcurrency(sync, gen(sync, runPredictor)); err == nil || !strings.Contains(err.Error(), "cog.yaml:5:3: concurrency.max: concurrency.max > 1 requires an async run() or predict() method") {
		t.Errorf("sync run with concurrency.max 2: %v", err)
	}
}
