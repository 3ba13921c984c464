package frontend

import (
	"encoding/json"
	"testing"

	"github.com/cog-frontend/cog-frontend/wire"
)

const secretsCogYAML = `
build:
  python_version: "3.11"
  run:
    - echo plain
    - command: cat /run/secrets/hf > /dev/null
      mounts:
        - type: secret
          id: hf
          target: /run/secrets/hf
    - command: cat /run/secrets/hf /run/secrets/pip > /dev/null
      mounts:
        - type: secret
          id: hf
          target: /run/secrets/hf
        - type: secret
          id: pip
          target: /run/secrets/pip
run: predict.py:Predictor
`

func TestOutlineListsBuildArgsAndSecretsWithLocations(t *testing.T) {
	cfg, _, smap, err := parse(t, secretsCogYAML)
	if err != nil {
		t.Fatal(err)
	}
	o := outlineOf(cfg, smap)
	if len(o.Secrets) != 2 || o.Secrets[0].Name != "hf" || o.Secrets[1].Name != "pip" {
		t.Fatalf("secrets = %+v, want hf then pip, each once", o.Secrets)
	}
	for _, s := range o.Secrets {
		if !s.Required || s.Location == nil || s.Location.SourceIndex != 0 {
			t.Errorf("secret %s: required=%v location=%v", s.Name, s.Required, s.Location)
		}
	}
	if l := o.Secrets[0].Location.Ranges[0].Start.Line; l != 7 {
		t.Errorf("hf secret at line %d, want 7 (its first mount)", l)
	}
	args := map[string]string{}
	for _, a := range o.Args {
		args[a.Name] = a.Value
	}
	if v, ok := args[BuildArgFormat]; !ok || v != wire.FormatStandalone {
		t.Errorf("args = %v, want %s defaulting to standalone (no weights)", args, BuildArgFormat)
	}
	if _, ok := args[BuildArgCACert]; !ok {
		t.Errorf("args = %v, want %s", args, BuildArgCACert)
	}
	if len(o.Sources) != 1 || string(o.Sources[0]) != string(smap.Data) {
		t.Error("outline must carry cog.yaml as source 0")
	}
	// The protocol result dockerui sends back must render.
	res, err := o.ToResult()
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(res.Metadata["result.json"], &back); err != nil || back["name"] != "cog.yaml" {
		t.Errorf("result.json = %s (%v)", res.Metadata["result.json"], err)
	}
	if len(res.Metadata["result.txt"]) == 0 {
		t.Error("empty result.txt")
	}
}

func TestTargetsAreTheFormats(t *testing.T) {
	cfg, _, smap, err := parse(t, secretsCogYAML)
	if err != nil {
		t.Fatal(err)
	}
	l := targetsOf(cfg, smap)
	if len(l.Targets) != 2 || l.Targets[0].Name != wire.FormatBundle || l.Targets[1].Name != wire.FormatStandalone {
		t.Fatalf("targets = %+v", l.Targets)
	}
	if l.Targets[0].Default || !l.Targets[1].Default {
		t.Errorf("without weights standalone is the default: %+v", l.Targets)
	}
	for _, tg := range l.Targets {
		if _, err := formatFromTarget(tg.Name); err != nil {
			t.Errorf("listed target %q is not accepted by --target: %v", tg.Name, err)
		}
	}
}
