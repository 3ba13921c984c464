//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/schema"
)

// The schema e2e tests build small predictors through `docker buildx build
// -f cog.yaml` with the frontend image, as Cog's own integration corpus
// does, and check what Cog's tests check: the label bytes, the served
// schema, input validation, SSE streaming, trainings, and build errors at
// their line. They share one build section (Python 3.12, the cog runtime
// whose behaviour the schema matches), so only the first build installs
// anything.
const schemaBuild = "build:\n  python_version: \"3.12\"\n  sdk_version: \"0.22.0\"\n"

// schemaProject writes a project: cog.yaml (build section + rest, with the
// frontend's syntax line first) and files.
func schemaProject(t *testing.T, e *Env, rest string, files map[string]string) string {
	t.Helper()
	all := map[string]string{"cog.yaml": "# syntax=" + frontendImage(t, e) + "\n" + schemaBuild + rest}
	for k, v := range files {
		all[k] = v
	}
	return writeFiles(t, all)
}

// buildLayout builds dir into an OCI layout and returns its path.
func buildLayout(t *testing.T, e *Env, dir string) string {
	t.Helper()
	layout := filepath.Join(t.TempDir(), "oci")
	mustBuildx(t, e, dir, "-f", "cog.yaml", "--output", "type=oci,dest="+layout+",tar=false", ".")
	return layout
}

// expectedSchema is what package schema computes for the project on disk;
// its unit tests pin those bytes to Cog's. Here the label must be exactly
// them.
func expectedSchema(t *testing.T, dir string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "cog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Parse("cog.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	key := "run"
	if _, ok := cfg.Source["predict"]; ok {
		key = "predict"
	}
	res, err := schema.Generate(schema.Input{
		Predict: cfg.Run, PredictKey: key, Train: cfg.Train, TrainKey: "train", Version: cfg.Build.SDKVersion,
		ReadFile: func(n string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, n)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.JSON
}

// TestSchemaLabelIsCogsBytes: for each schema case Cog's corpus checks, the
// run.cog.openapi_schema label is byte for byte the static schema, and
// holds the fragments Cog's tests look for.
func TestSchemaLabelIsCogsBytes(t *testing.T) {
	e := testEnv(t)
	for _, tc := range []struct {
		name, src string
		other     map[string]string
		fragments []string
	}{{
		name:      "dict input",
		src:       "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def predict(self, data: dict) -> str:\n        return str(sorted(data))\n",
		fragments: []string{`"data":{"title":"Data","type":"object","x-order":0}`, `"required":["data"]`},
	}, {
		name:      "TypedDict input",
		src:       "from typing import TypedDict\nfrom cog import BasePredictor\n\nclass Data(TypedDict):\n    name: str\n\nclass Predictor(BasePredictor):\n    def predict(self, data: Data) -> str:\n        return data['name']\n",
		fragments: []string{`"data":{"title":"Data","type":"object","x-order":0}`},
	}, {
		name:      "typing.Dict input",
		src:       "from typing import Any, Dict\nfrom cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def predict(self, data: Dict[str, Any]) -> str:\n        return str(len(data))\n",
		fragments: []string{`"data":{"title":"Data","type":"object","x-order":0}`},
	}, {
		name:  "opaque object",
		other: map[string]string{"third_party.py": "class ExternalObject:\n    pass\n"},
		src: "from typing import Annotated, List\nfrom cog import BaseModel, BasePredictor, Opaque\nfrom third_party import ExternalObject\n\n" +
			"class Output(BaseModel):\n    result: Annotated[ExternalObject, Opaque]\n    results: Annotated[List[ExternalObject], Opaque]\n\n" +
			"class Predictor(BasePredictor):\n    def predict(self, payload: Annotated[ExternalObject, Opaque], items: Annotated[List[ExternalObject], Opaque]) -> Output:\n        return Output(result=payload, results=items)\n",
		fragments: []string{`"payload":{"title":"Payload","type":"object","x-order":0}`, `"items":{"items":{"type":"object"},"title":"Items","type":"array","x-order":1}`,
			`"result":{"title":"Result","type":"object"}`, `"required":["result","results"]`},
	}, {
		name:      "list of dict",
		src:       "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def predict(self, items: list[dict]) -> int:\n        return len(items)\n",
		fragments: []string{`"items":{"items":{"type":"object"},"title":"Items","type":"array","x-order":0}`},
	}, {
		name: "x-cog-accept",
		src: "from typing import Optional\nfrom cog import BasePredictor, Input, Path\n\nclass Predictor(BasePredictor):\n" +
			"    def predict(self, image: Path = Input(accept=\"image/*\"), audio: Optional[Path] = Input(accept=\"audio/wav,audio/mp3\", default=None)) -> str:\n        return str(image)\n",
		fragments: []string{`"x-cog-accept":"image/*"`, `"x-cog-accept":"audio/wav,audio/mp3"`},
	}, {
		name: "nullable Secret",
		src: "from cog import BasePredictor, Input, Secret\n\nclass Predictor(BasePredictor):\n" +
			"    def predict(self, prompt: str, api_key: Secret = Input(default=None), seed: int = Input(default=None)) -> str:\n        return prompt\n",
		fragments: []string{`"api_key":{"default":null,"format":"password","nullable":true,"title":"Api Key","type":"string","writeOnly":true,"x-cog-secret":true,"x-order":1}`, `"required":["prompt","seed"]`},
	}, {
		name:      "TypedDict output",
		src:       "from typing import NotRequired, TypedDict\nfrom cog import BasePredictor\n\nclass Output(TypedDict):\n    name: str\n    count: NotRequired[int]\n\nclass Predictor(BasePredictor):\n    def predict(self) -> Output:\n        return {\"name\": \"alice\", \"count\": 3}\n",
		fragments: []string{`"Output":{"properties":{"name":{"title":"Name","type":"string"},"count":{"title":"Count","type":"integer"}},"required":["name"],"title":"Output","type":"object"}`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"predict.py": tc.src}
			for k, v := range tc.other {
				files[k] = v
			}
			dir := schemaProject(t, e, "predict: predict.py:Predictor\n", files)
			labels := layoutImage(t, buildLayout(t, e, dir)).Config.Labels
			got, want := labels["run.cog.openapi_schema"], string(expectedSchema(t, dir))
			if got != want {
				t.Errorf("run.cog.openapi_schema label differs from the static schema\n got: %s\nwant: %s", got, want)
			}
			for _, f := range tc.fragments {
				if !strings.Contains(got, f) {
					t.Errorf("label lacks %s", f)
				}
			}
			if !strings.Contains(got, `"info":{"title":"Cog","version":"0.22.0"}`) {
				t.Errorf("info.version is not the installed cog version 0.22.0: %s", got)
			}
		})
	}
}

// TestSchemaServedAndInputValidated: the image serves its label as
// /openapi.json and the runtime validates inputs against it (a minimum is
// enforced, Cog's invalid_int_validation).
func TestSchemaServedAndInputValidated(t *testing.T) {
	e := testEnv(t)
	dir := schemaProject(t, e, "run: predict.py:Runner\n", map[string]string{"predict.py": `from cog import BaseRunner, Input


class Runner(BaseRunner):
    def run(self, num: int = Input(description="Number of things", default=3, ge=2, le=10)) -> int:
        return num * 2
`})
	layout := buildLayout(t, e, dir)
	label := layoutImage(t, layout).Config.Labels["run.cog.openapi_schema"]
	c := runImage(t, layout, "latest", nil)
	c.waitReady(t, 3*time.Minute)
	var served, fromLabel any
	if err := json.Unmarshal([]byte(c.curl(t, "http://127.0.0.1:5000/openapi.json")), &served); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(label), &fromLabel); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(served, fromLabel) {
		t.Errorf("/openapi.json differs from the label\nserved: %v\nlabel:  %v", served, fromLabel)
	}
	out := c.curl(t, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"input":{"num":4}}`, "http://127.0.0.1:5000/predictions")
	if !strings.Contains(out, `"output":8`) {
		t.Errorf("POST num=4: %s", out)
	}
	out, err := c.curlErr(t, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"input":{"num":1}}`, "http://127.0.0.1:5000/predictions")
	if err == nil || !strings.Contains(out, "num") {
		t.Errorf("POST num=1 (below minimum 2) was not refused: err %v, body %s", err, out)
	}
}

// TestSchemaSSEStreaming: a @cog.streaming iterator streams through
// server-sent events (the schema marks /predictions x-cog-streaming).
func TestSchemaSSEStreaming(t *testing.T) {
	e := testEnv(t)
	dir := schemaProject(t, e, "run: predict.py:Runner\n", map[string]string{"predict.py": `from typing import Iterator

from cog import BaseRunner, streaming


class Runner(BaseRunner):
    @streaming
    def run(self, count: int = 2) -> Iterator[str]:
        for i in range(count):
            yield f"chunk-{i + 1}"
`})
	layout := buildLayout(t, e, dir)
	if l := layoutImage(t, layout).Config.Labels["run.cog.openapi_schema"]; !strings.Contains(l, `"x-cog-streaming":true`) {
		t.Fatalf("schema has no x-cog-streaming: %s", l)
	}
	c := runImage(t, layout, "latest", nil)
	c.waitReady(t, 3*time.Minute)
	out := c.curl(t, "-N", "-X", "PUT", "-H", "Accept: text/event-stream", "-H", "Content-Type: application/json",
		"-d", `{"id":"sse-1","input":{"count":2}}`, "http://127.0.0.1:5000/predictions/sse-1")
	for _, want := range []string{"event: start", "event: output", `"chunk":"chunk-1"`, `"chunk":"chunk-2"`, "event: completed", `"status":"succeeded"`} {
		if !strings.Contains(out, want) {
			t.Errorf("SSE stream lacks %q:\n%s", want, out)
		}
	}
}

// TestSchemaTrainings: with train: in cog.yaml the schema has /trainings,
// TrainingInput and TrainingOutput, and POST /trainings runs, for a train()
// function returning a BaseModel with a Path and for a class trainer whose
// setup() runs first.
func TestSchemaTrainings(t *testing.T) {
	e := testEnv(t)
	predictor := "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def predict(self, s: str) -> str:\n        return 'hello ' + s\n"
	for _, tc := range []struct {
		name, train, src, input, want string
	}{
		{"function", "train.py:train", `from cog import BaseModel, Path


class TrainingOutput(BaseModel):
    weights: Path


def train(n: int) -> TrainingOutput:
    with open("/tmp/weights.bin", "w") as fh:
        fh.write("a" * n)
    return TrainingOutput(weights=Path("/tmp/weights.bin"))
`, `{"n":42}`, `"weights":`},
		{"class with setup", "train.py:Trainer", `from cog import BasePredictor


class Trainer(BasePredictor):
    def setup(self) -> None:
        self.greeting = "hello train"

    def train(self, s: str) -> str:
        return self.greeting + " " + s

    # The runtime loads a class only when it has run() or predict().
    def predict(self, s: str) -> str:
        return "hello predict " + s
`, `{"s":"world"}`, `"output":"hello train world"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := schemaProject(t, e, "predict: predict.py:Predictor\ntrain: "+tc.train+"\n", map[string]string{"predict.py": predictor, "train.py": tc.src})
			layout := buildLayout(t, e, dir)
			label := layoutImage(t, layout).Config.Labels["run.cog.openapi_schema"]
			if label != string(expectedSchema(t, dir)) {
				t.Errorf("label differs from the static schema:\n%s", label)
			}
			for _, want := range []string{`"/trainings": {`, `"TrainingInput": {`, `"TrainingOutput": {`, `"/predictions": {`} {
				if !strings.Contains(label, want) {
					t.Errorf("schema lacks %s", want)
				}
			}
			// Trainings are served as `cog train` serves them: the image's
			// runtime in train mode (tini stays the entrypoint).
			c := runImageArgs(t, layout, "latest", nil, []string{"/sbin/tini", "--", "python", "-m", "cog.server.http", "--x-mode", "train"})
			c.waitReady(t, 3*time.Minute)
			out := c.curl(t, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"input":`+tc.input+`}`, "http://127.0.0.1:5000/trainings")
			if !strings.Contains(out, `"status":"succeeded"`) || !strings.Contains(out, tc.want) {
				t.Errorf("POST /trainings = %s\ncontainer log:\n%s", out, c.logs())
			}
			out = c.curl(t, "-X", "PUT", "-H", "Content-Type: application/json", "-d", `{"id":"t-1","input":`+tc.input+`}`, "http://127.0.0.1:5000/trainings/t-1")
			if !strings.Contains(out, `"status":"succeeded"`) && !strings.Contains(out, `"status":"processing"`) && !strings.Contains(out, `"status":"starting"`) {
				t.Errorf("PUT /trainings/t-1 = %s", out)
			}
		})
	}
}

// TestSchemaErrorsFailTheBuildAtTheLine: what Cog refuses before building
// is refused here too, with Cog's message and the file:line buildx shows
// with the line's text.
func TestSchemaErrorsFailTheBuildAtTheLine(t *testing.T) {
	e := testEnv(t)
	for _, tc := range []struct {
		name, rest string
		files      map[string]string
		want       []string
	}{{
		name: "accept on a str input",
		rest: "predict: predict.py:Predictor\n",
		files: map[string]string{"predict.py": "from cog import BasePredictor, Input\n\n\nclass Predictor(BasePredictor):\n    def predict(\n        self,\n" +
			"        name: str = Input(description=\"User name\", accept=\"text/plain\"),\n    ) -> str:\n        return name\n"},
		want: []string{"accept is only valid on Path or File inputs", "predict.py:7", `name: str = Input(description="User name", accept="text/plain"),`},
	}, {
		name: "unresolvable type",
		rest: "predict: predict.py:Predictor\n",
		files: map[string]string{
			"mypackage/__init__.py": "from cog import BaseModel\n\n\nclass Output(BaseModel):\n    text: str\n",
			"predict.py":            "from cog import BasePredictor\nfrom mypackage import Output\n\n\nclass Predictor(BasePredictor):\n    def predict(self, prompt: str) -> Output:\n        return Output(text=prompt)\n",
		},
		want: []string{"cannot resolve type 'Output' (imported from 'mypackage')", "predict.py:6"},
	}, {
		name:  "default below minimum",
		rest:  "predict: predict.py:Predictor\n",
		files: map[string]string{"predict.py": "from cog import BasePredictor, Input\n\n\nclass Predictor(BasePredictor):\n    def predict(\n        self, num: int = Input(default=1, ge=2, le=10)\n    ) -> int:\n        return num\n"},
		want:  []string{"invalid", "minimum", "predict.py:6"},
	}, {
		name:  "no such predictor class",
		rest:  "run: predict.py:DoesNotExist\n",
		files: map[string]string{"predict.py": "from cog import BasePredictor\n"},
		want:  []string{"predictor not found: DoesNotExist"},
	}, {
		name: "unpinned torch on GPU",
		rest: "  gpu: true\n  python_requirements: requirements.txt\npredict: predict.py:Predictor\n",
		files: map[string]string{"requirements.txt": "torch\n",
			"predict.py": "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def predict(self, text: str) -> str:\n        return text\n"},
		want: []string{"torch version must be specified when using CUDA", "requirements.txt:1"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := schemaProject(t, e, tc.rest, tc.files)
			start := time.Now()
			out, err := buildx(t, e, dir, "-f", "cog.yaml", "--output", "type=cacheonly", ".")
			if err == nil {
				t.Fatalf("build succeeded; want it to fail with %q", tc.want[0])
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("buildx output lacks %q:\n%s", w, tail(out, 40))
				}
			}
			for _, step := range []string{"[cog] install", "[cog] base image"} {
				if strings.Contains(out, step) {
					t.Errorf("the build ran %q before failing; the check belongs before any build step", step)
				}
			}
			t.Logf("failed after %s", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestSchemaPythonVersions: 3.7-3.9 fail with Cog's words, an unknown one
// lists what is supported.
func TestSchemaPythonVersions(t *testing.T) {
	e := testEnv(t)
	for v, want := range map[string]string{
		"3.8":  `invalid build.python_version "3.8": minimum supported Python version is 3.10`,
		"3.99": `invalid build.python_version "3.99": unsupported Python version; supported: 3.10, 3.11, 3.12, 3.13`,
	} {
		dir := writeFiles(t, map[string]string{"cog.yaml": "# syntax=" + frontendImage(t, e) + "\nbuild:\n  python_version: \"" + v + "\"\n"})
		out, err := buildx(t, e, dir, "-f", "cog.yaml", "--output", "type=cacheonly", ".")
		if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "cog.yaml:3") {
			t.Errorf("python_version %s: err %v, want %q at cog.yaml:3:\n%s", v, err, want, tail(out, 30))
		}
	}
}

// TestBuildxCallCheck: `docker buildx build --call check -f cog.yaml .`
// lists the findings with their lines in cog.yaml and predict.py and exits
// non-zero; a clean project passes.
func TestBuildxCallCheck(t *testing.T) {
	e := testEnv(t)
	dir := schemaProject(t, e, "  pre_install:\n    - echo hi\npredict: predict.py:Predictor\nfoo: 1\n", map[string]string{
		"predict.py": "from cog import BasePredictor, Input\n\nclass Predictor(BasePredictor):\n    def predict(self, name: str = Input(accept=\"text/plain\")) -> str:\n        return name\n",
	})
	out, err := runErr(t, dir, "docker", "buildx", "build", "--builder", e.Builder, "--call", "check", "-f", "cog.yaml", ".")
	if err == nil {
		t.Errorf("--call check passed a project with problems:\n%s", out)
	}
	for _, want := range []string{
		"DeprecatedField", `deprecated field "build.pre_install": use "build.run" instead`, `deprecated field "predict": use "run" instead`,
		"InvalidConfig", `foo: unknown key`, "cog.yaml:8",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--call check output lacks %q:\n%s", want, out)
		}
	}
	// With cog.yaml fixed, the predictor's own problem is found.
	if err := os.WriteFile(filepath.Join(dir, "cog.yaml"), []byte("# syntax="+frontendImage(t, e)+"\n"+schemaBuild+"run: predict.py:Predictor\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runErr(t, dir, "docker", "buildx", "build", "--builder", e.Builder, "--call", "check", "-f", "cog.yaml", ".")
	if err == nil || !strings.Contains(out, "InvalidPredictor") || !strings.Contains(out, "accept is only valid on Path or File inputs") || !strings.Contains(out, "predict.py:4") {
		t.Errorf("--call check on predict.py: err %v\n%s", err, out)
	}
	// Clean.
	if err := os.WriteFile(filepath.Join(dir, "predict.py"), []byte("from cog import BaseRunner\n\nclass Predictor(BaseRunner):\n    def run(self, name: str) -> str:\n        return name\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runErr(t, dir, "docker", "buildx", "build", "--builder", e.Builder, "--call", "check", "-f", "cog.yaml", ".")
	if err != nil || !strings.Contains(out, "Check complete, no warnings found.") {
		t.Errorf("--call check on a clean project: err %v\n%s", err, out)
	}
}
