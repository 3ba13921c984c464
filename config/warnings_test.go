package config

import (
	"strings"
	"testing"
)

func TestParseWarnings(t *testing.T) {
	cases := []struct {
		name, yaml string
		path       string // warning path
		at         string
		contains   string
		check      func(t *testing.T, c *Config)
	}{
		{"predict is deprecated", "predict: predict.py:Predictor\n", "predict", "1:1", `deprecated field "predict": use "run" instead`,
			func(t *testing.T, c *Config) { want(t, c.Run, "predict.py:Predictor") }},
		{"python_version as float 3.10", "build:\n  python_version: 3.10\n", "build.python_version", "2:19", `quote it ("3.10")`,
			func(t *testing.T, c *Config) { want(t, c.Build.PythonVersion, "3.10") }},
		{"python_version as float 3.12", "build:\n  python_version: 3.12\n", "build.python_version", "2:19", "written as a number",
			func(t *testing.T, c *Config) { want(t, c.Build.PythonVersion, "3.12") }},
		{"python patch dropped", "build:\n  python_version: \"3.11.4\"\n", "build.python_version", "2:19", "using 3.11",
			func(t *testing.T, c *Config) { want(t, c.Build.PythonVersion, "3.11") }},
		{"python_packages deprecated", base + "  python_packages:\n    - numpy==2.1.0\n", "build.python_packages", "3:3", "requirements.txt",
			func(t *testing.T, c *Config) { want(t, strings.Join(c.Build.PythonPackages, ","), "numpy==2.1.0") }},
		{"pre_install deprecated", base + "  pre_install:\n    - echo hi\n", "build.pre_install", "3:3", "build.run",
			func(t *testing.T, c *Config) { want(t, strings.Join(c.Build.PreInstall, ","), "echo hi") }},
		{"YAML 1.1 boolean", base + "  gpu: yes\n", "build.gpu", "3:8", "write true instead of yes",
			func(t *testing.T, c *Config) {
				if !c.Build.GPU {
					t.Error("gpu: yes was not read as true")
				}
			}},
		{"cuda without gpu", base + "  cuda: \"12.1\"\n", "build", "3:3", "no effect without gpu: true",
			func(t *testing.T, c *Config) { want(t, c.Build.CUDA, "12.1") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warns, err := Parse("cog.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(warns) != 1 {
				t.Fatalf("want 1 warning, got %v", warns)
			}
			w := warns[0]
			if w.Path != tc.path || posString(w.Pos) != tc.at || !strings.Contains(w.Message, tc.contains) {
				t.Errorf("warning = %s (path %q), want %s at %s containing %q", w, w.Path, tc.path, tc.at, tc.contains)
			}
			// Cog's deprecation wording names the key itself; it is not
			// repeated before it.
			if !strings.HasPrefix(w.String(), "cog.yaml:"+tc.at+": "+tc.path+": ") && !strings.HasPrefix(w.String(), "cog.yaml:"+tc.at+`: deprecated field "`+tc.path+`": `) {
				t.Errorf("String() = %q", w.String())
			}
			tc.check(t, cfg)
		})
	}
}

func want(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseEmptyAndNullValues(t *testing.T) {
	for _, src := range []string{"", "# syntax=example.com/fe\n", "---\n", "~\n"} {
		cfg, warns, err := Parse("", []byte(src))
		if err != nil || len(warns) != 0 || cfg.Build != nil || cfg.Run != "" || len(cfg.Weights) != 0 {
			t.Errorf("Parse(%q) = %+v, %v, %v", src, cfg, warns, err)
		}
	}
	// Keys left empty (as `cog init` templates do) mean "not set".
	cfg, _, err := Parse("", []byte(base+"  gpu:\n  system_packages:\n  run:\n  python_requirements:\nrun:\ntrain:\nconcurrency:\nenvironment:\nweights:\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Build.GPU || cfg.Build.SystemPackages != nil || cfg.Build.Run != nil || cfg.Concurrency != nil || cfg.Environment != nil || cfg.Weights != nil {
		t.Errorf("null values were not treated as unset: %+v %+v", cfg, cfg.Build)
	}
}

func TestParseDefaults(t *testing.T) {
	cfg, warns, err := Parse("cog.yaml", []byte(base))
	if err != nil || len(warns) != 0 {
		t.Fatalf("Parse: %v %v", err, warns)
	}
	b := cfg.Build
	if b.GPU || b.CUDA != "" || b.CuDNN != "" || b.SDKVersion != "" || b.PythonRequirements != "" {
		t.Errorf("defaults = %+v", b)
	}
}

func TestParseCommandsAndAnchors(t *testing.T) {
	src := base + `  run:
    - >
      echo folded
      onto one line
    - &cmd {command: "pip install x", mounts: [{type: secret, id: tok}]}
    - *cmd
  python_requirements: ./deps//requirements.txt
`
	cfg, _, err := Parse("cog.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	r := cfg.Build.Run
	if len(r) != 3 || r[0].Command != "echo folded onto one line" || r[2].Command != "pip install x" || r[2].Mounts[0].ID != "tok" {
		t.Errorf("run = %+v", r)
	}
	want(t, cfg.Build.PythonRequirements, "deps/requirements.txt")
}

func TestParseWeightForms(t *testing.T) {
	src := model + `weights:
  - name: one
    target: /src/w//one/./
    source: {uri: "file://./w/one"}
  - name: many.parts_v2
    target: /srv/many
    source:
      - uri: huggingface://org/repo@abc123
        include: []
      - uri: /abs/dir
`
	cfg, _, err := Parse("cog.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	w := cfg.Weights
	want(t, w[0].Target, "/src/w/one")
	want(t, w[0].Sources[0].URI, "file://./w/one")
	want(t, w[1].Name, "many.parts_v2")
	if len(w[1].Sources) != 2 || w[1].Sources[0].Include != nil || w[1].Sources[1].URI != "/abs/dir" {
		t.Errorf("weights[1] = %+v", w[1])
	}
	if p := cfg.Source["weights[1].source[1].uri"]; p.Line != 11 {
		t.Errorf("source position = %+v", p)
	}
}
