package config

import (
	"errors"
	"strings"
	"testing"
)

const fullYAML = `# syntax=127.0.0.1:5001/cog-frontend:dev
build:
  python_version: "3.11"
  gpu: true
  cuda: "12.1"
  python_requirements: requirements.txt
  system_packages:
    - ffmpeg
    - libgl1
  run:
    - echo hello
    - command: pip install private
      mounts:
        - type: secret
          id: token
          target: /run/secrets/token
  sdk_version: "0.16.8"
model: registry.example.com/acct/my-model
run: predict.py:Predictor
train: train.py:Trainer
concurrency:
  max: 4
  default_target: 2
environment:
  - MODEL_DIR=/src/models
  - EMPTY=
weights:
  - name: minilm
    target: /src/weights/minilm/
    source:
      uri: weights/minilm
      include: ["*.json", "*.safetensors"]
      exclude: ["onnx/"]
  - name: multi
    target: /src/weights/multi
    source:
      - uri: hf://org/repo@main
      - uri: https://example.com/file.bin
        include: ["**/*.bin"]
`

func TestParseFullConfig(t *testing.T) {
	cfg, warns, err := Parse("cog.yaml", []byte(fullYAML))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	// concurrency.max is deprecated in Cog 0.22 (the decorator replaces it).
	if len(warns) != 1 || !strings.HasPrefix(warns[0].Message, `deprecated field "concurrency.max": use "@cog.concurrent(max=...)" instead`) {
		t.Errorf("warnings = %v, want only concurrency.max's deprecation", warns)
	}
	b := cfg.Build
	if b.PythonVersion != "3.11" || !b.GPU || b.CUDA != "12.1" || b.CuDNN != "" || b.PythonRequirements != "requirements.txt" || b.SDKVersion != "0.16.8" {
		t.Errorf("build = %+v", b)
	}
	if strings.Join(b.SystemPackages, ",") != "ffmpeg,libgl1" {
		t.Errorf("system_packages = %v", b.SystemPackages)
	}
	if len(b.Run) != 2 || b.Run[0].Command != "echo hello" || b.Run[1].Command != "pip install private" ||
		len(b.Run[1].Mounts) != 1 || b.Run[1].Mounts[0] != (Mount{Type: "secret", ID: "token", Target: "/run/secrets/token"}) {
		t.Errorf("run = %+v", b.Run)
	}
	if cfg.Model != "registry.example.com/acct/my-model" || cfg.Run != "predict.py:Predictor" || cfg.Train != "train.py:Trainer" {
		t.Errorf("top = %q %q %q", cfg.Model, cfg.Run, cfg.Train)
	}
	if *cfg.Concurrency != (Concurrency{Max: 4, DefaultTarget: 2}) {
		t.Errorf("concurrency = %+v", cfg.Concurrency)
	}
	if len(cfg.Environment) != 2 || cfg.Environment[0] != (EnvVar{"MODEL_DIR", "/src/models"}) || cfg.Environment[1] != (EnvVar{"EMPTY", ""}) {
		t.Errorf("environment = %+v", cfg.Environment)
	}
	if len(cfg.Weights) != 2 {
		t.Fatalf("weights = %+v", cfg.Weights)
	}
	w0 := cfg.Weights[0]
	if w0.Name != "minilm" || w0.Target != "/src/weights/minilm" || len(w0.Sources) != 1 ||
		w0.Sources[0].URI != "weights/minilm" || strings.Join(w0.Sources[0].Include, ",") != "*.json,*.safetensors" ||
		strings.Join(w0.Sources[0].Exclude, ",") != "onnx/" {
		t.Errorf("weights[0] = %+v", w0)
	}
	w1 := cfg.Weights[1]
	if len(w1.Sources) != 2 || w1.Sources[0].URI != "hf://org/repo@main" || w1.Sources[1].Include[0] != "**/*.bin" {
		t.Errorf("weights[1] = %+v", w1)
	}
	wantPos := map[string]int{ // key path -> line
		"build":                           2,
		"build.python_version":            3,
		"build.run[0]":                    11,
		"build.run[1]":                    12,
		"build.run[1].mounts[0].id":       15,
		"weights[0].source.include[1]":    32,
		"weights[1].source[1].include[0]": 39,
		"concurrency.max":                 22,
		"environment[1]":                  26,
	}
	for p, line := range wantPos {
		if got := cfg.Source[p]; got.Line != line || got.File != "cog.yaml" || got.Column == 0 {
			t.Errorf("Source[%q] = %+v, want line %d", p, got, line)
		}
	}
}

func TestParseErrorCarriesPosition(t *testing.T) {
	_, _, err := Parse("cog.yaml", []byte("build:\n  python_version: \"3.11\"\n  bogus: 1\n"))
	if err == nil {
		t.Fatal("want error")
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("not a *config.Error: %T", err)
	}
	if ce.Pos.Line != 3 || ce.Pos.Column != 3 || ce.Path != "build.bogus" {
		t.Errorf("error = %+v", ce)
	}
	want := `cog.yaml:3:3: build.bogus: unknown key (got "bogus"); allowed keys here: python_version,`
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("message:\n got %s\nwant %s...", err, want)
	}
}
