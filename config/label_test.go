package config

import (
	"encoding/json"
	"testing"
)

func TestLabelJSONFull(t *testing.T) {
	cfg, _, err := Parse("cog.yaml", []byte(fullYAML))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveCUDA(cfg, "torch==2.1.0\n"); err != nil {
		t.Fatal(err)
	}
	got, err := cfg.LabelJSON()
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"build":{"gpu":true,"python_version":"3.11","python_requirements":"requirements.txt",` +
		`"run":[{"command":"echo hello"},{"command":"pip install private","mounts":[{"type":"secret","id":"token","target":"/run/secrets/token"}]}],` +
		`"system_packages":["ffmpeg","libgl1"],"cuda":"12.1","cudnn":"8","sdk_version":"0.16.8"},` +
		`"model":"registry.example.com/acct/my-model","predict":"predict.py:Predictor","train":"train.py:Trainer",` +
		`"concurrency":{"max":4,"default_target":2},"environment":["MODEL_DIR=/src/models","EMPTY="],` +
		`"weights":[{"name":"minilm","target":"/src/weights/minilm","source":{"uri":"weights/minilm","include":["*.json","*.safetensors"],"exclude":["onnx/"]}},` +
		`{"name":"multi","target":"/src/weights/multi","source":[{"uri":"hf://org/repo@main"},{"uri":"https://example.com/file.bin","include":["**/*.bin"]}]}]}`
	if string(got) != wantJSON {
		t.Errorf("LabelJSON:\n got %s\nwant %s", got, wantJSON)
	}
}

func TestLabelJSONMinimalAndEscaping(t *testing.T) {
	cfg, _, err := Parse("cog.yaml", []byte(base+"run: predict.py:Predictor\nenvironment: [\"A=<b>&c\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := cfg.LabelJSON()
	// Go's encoding/json escapes <, > and & as Cog's label writer does.
	const want = `{"build":{"python_version":"3.11"},"predict":"predict.py:Predictor","environment":["A=\u003cb\u003e\u0026c"]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	empty, _ := (&Config{}).LabelJSON()
	if string(empty) != `{"build":{}}` {
		t.Errorf("empty config label = %s", empty)
	}
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Errorf("label is not JSON: %v", err)
	}
}
