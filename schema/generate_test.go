package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
)

// The expected documents below are written from Cog 0.22.0's generator
// (pkg/schema/openapi_spec.go, schema_type.go, types.go): components,
// paths and input properties keep insertion order, every other object has
// its keys sorted (Go maps through encoding/json), compact, no newline.

// envelope is Cog's fixed document around one mode's Input and Output
// components; extra holds enum components (with a leading comma) and
// streaming adds x-cog-streaming to the predictions operation.
func envelope(train bool, input, output, extra string, streaming bool) string {
	endpoint, req, resp, cancel, param, paramTitle, summary, desc, opID, cancelOp, in, out :=
		"/predictions", "PredictionRequest", "PredictionResponse", "/predictions/{prediction_id}/cancel", "prediction_id", "Prediction Id",
		"Predict", "Run a single prediction on the model", "predict_predictions_post", "cancel_predictions__prediction_id__cancel_post", "Input", "Output"
	if train {
		endpoint, req, resp, cancel, param, paramTitle, summary, desc, opID, cancelOp, in, out =
			"/trainings", "TrainingRequest", "TrainingResponse", "/trainings/{training_id}/cancel", "training_id", "Training Id",
			"Train", "Run a single training on the model", "train_trainings_post", "cancel_trainings__training_id__cancel_post", "TrainingInput", "TrainingOutput"
	}
	stream := ""
	if streaming {
		stream = `,"x-cog-streaming":true`
	}
	empty200 := `"200":{"content":{"application/json":{"schema":{}}},"description":"Successful Response"}`
	invalid := `"422":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/HTTPValidationError"}}},"description":"Validation Error"}`
	return `{"components":{"schemas":{` +
		`"` + in + `":` + input + `,"` + out + `":` + output + extra +
		`,"` + req + `":{"properties":{"id":{"title":"Id","type":"string"},"input":{"$ref":"#/components/schemas/` + in + `"}},"title":"` + req + `","type":"object"}` +
		`,"` + resp + `":{"properties":{` +
		`"completed_at":{"format":"date-time","title":"Completed At","type":"string"},` +
		`"created_at":{"format":"date-time","title":"Created At","type":"string"},` +
		`"error":{"title":"Error","type":"string"},` +
		`"id":{"title":"Id","type":"string"},` +
		`"input":{"$ref":"#/components/schemas/` + in + `"},` +
		`"logs":{"title":"Logs","type":"string"},` +
		`"metrics":{"title":"Metrics","type":"object"},` +
		`"output":{"$ref":"#/components/schemas/` + out + `"},` +
		`"started_at":{"format":"date-time","title":"Started At","type":"string"},` +
		`"status":{"title":"Status","type":"string"},` +
		`"version":{"title":"Version","type":"string"}},"title":"` + resp + `","type":"object"}` +
		`,"Status":{"description":"An enumeration.","enum":["starting","processing","succeeded","canceled","failed"],"title":"Status","type":"string"}` +
		`,"HTTPValidationError":{"properties":{"detail":{"items":{"$ref":"#/components/schemas/ValidationError"},"title":"Detail","type":"array"}},"title":"HTTPValidationError","type":"object"}` +
		`,"ValidationError":{"properties":{"loc":{"items":{"anyOf":[{"type":"string"},{"type":"integer"}]},"title":"Location","type":"array"},"msg":{"title":"Message","type":"string"},"type":{"title":"Error Type","type":"string"}},"required":["loc","msg","type"],"title":"ValidationError","type":"object"}` +
		`}},"info":{"title":"Cog","version":"0.22.0"},"openapi":"3.0.2","paths":{` +
		`"/":{"get":{"operationId":"root__get","responses":{` + empty200 + `},"summary":"Root"}},` +
		`"/health-check":{"get":{"operationId":"healthcheck_health_check_get","responses":{` + empty200 + `},"summary":"Healthcheck"}},` +
		`"` + endpoint + `":{"post":{"description":"` + desc + `","operationId":"` + opID + `",` +
		`"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/` + req + `"}}}},` +
		`"responses":{"200":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/` + resp + `"}}},"description":"Successful Response"},` + invalid + `},` +
		`"summary":"` + summary + `"` + stream + `}},` +
		`"` + cancel + `":{"post":{"operationId":"` + cancelOp + `","parameters":[{"in":"path","name":"` + param + `","required":true,"schema":{"title":"` + paramTitle + `","type":"string"}}],` +
		`"responses":{` + empty200 + `,` + invalid + `},"summary":"Cancel"}}}}`
}

func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		s, ok := m[name]
		if !ok {
			return nil, fs.ErrNotExist
		}
		return []byte(s), nil
	}
}

func generate(t *testing.T, predict, train string, fs map[string]string) *Result {
	t.Helper()
	res, err := Generate(Input{Predict: predict, Train: train, PredictKey: "predict", TrainKey: "train", ReadFile: files(fs), Version: "0.22.0"})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return res
}

func TestSchemaBytesMatchCog(t *testing.T) {
	for _, tc := range []struct {
		name, src, input, output, extra string
		streaming                       bool
		other                           map[string]string
	}{{
		name: "dict input",
		src: `from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self, data: dict) -> str:
        return ""
`,
		input:  `{"properties":{"data":{"title":"Data","type":"object","x-order":0}},"required":["data"],"title":"Input","type":"object"}`,
		output: `{"title":"Output","type":"string"}`,
	}, {
		name: "TypedDict input",
		src: `from typing import TypedDict
from cog import BasePredictor

class Data(TypedDict):
    name: str
    count: int

class Predictor(BasePredictor):
    def predict(self, data: Data) -> str:
        return ""
`,
		input:  `{"properties":{"data":{"title":"Data","type":"object","x-order":0}},"required":["data"],"title":"Input","type":"object"}`,
		output: `{"title":"Output","type":"string"}`,
	}, {
		name: "typing.Dict input",
		src: `from typing import Any, Dict
from cog import BasePredictor

class Predictor(BasePredictor):
    def predict(self, data: Dict[str, Any]) -> str:
        return ""
`,
		input:  `{"properties":{"data":{"title":"Data","type":"object","x-order":0}},"required":["data"],"title":"Input","type":"object"}`,
		output: `{"title":"Output","type":"string"}`,
	}, {
		name: "opaque object input and output",
		src: `from typing import Annotated, List

from cog import BaseModel, BasePredictor, Opaque
from third_party import ExternalObject


class Output(BaseModel):
    result: Annotated[ExternalObject, Opaque]
    results: Annotated[List[ExternalObject], Opaque]


class Predictor(BasePredictor):
    def predict(
        self,
        payload: Annotated[ExternalObject, Opaque],
        items: Annotated[List[ExternalObject], Opaque],
    ) -> Output:
        return Output(result=payload, results=items)
`,
		other: map[string]string{"third_party.py": "class ExternalObject:\n    pass\n"},
		input: `{"properties":{"payload":{"title":"Payload","type":"object","x-order":0},"items":{"items":{"type":"object"},"title":"Items","type":"array","x-order":1}},` +
			`"required":["payload","items"],"title":"Input","type":"object"}`,
		output: `{"properties":{"result":{"title":"Result","type":"object"},"results":{"items":{"type":"object"},"title":"Results","type":"array"}},"required":["result","results"],"title":"Output","type":"object"}`,
	}, {
		name: "list of dict input",
		src: `from cog import BasePredictor

class Predictor(BasePredictor):
    def predict(self, items: list[dict]) -> int:
        return len(items)
`,
		input:  `{"properties":{"items":{"items":{"type":"object"},"title":"Items","type":"array","x-order":0}},"required":["items"],"title":"Input","type":"object"}`,
		output: `{"title":"Output","type":"integer"}`,
	}, {
		name: "x-cog-accept on Path inputs",
		src: `from typing import Optional

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def predict(
        self,
        prompt: str = Input(description="Text prompt", default="test"),
        image: Path = Input(description="Input image", accept="image/*"),
        audio: Optional[Path] = Input(description="Audio clip", accept="audio/wav,audio/mp3", default=None),
    ) -> str:
        return prompt
`,
		input: `{"properties":{` +
			`"prompt":{"default":"test","description":"Text prompt","title":"Prompt","type":"string","x-order":0},` +
			`"image":{"description":"Input image","format":"uri","title":"Image","type":"string","x-cog-accept":"image/*","x-order":1},` +
			`"audio":{"default":null,"description":"Audio clip","format":"uri","nullable":true,"title":"Audio","type":"string","x-cog-accept":"audio/wav,audio/mp3","x-order":2}},` +
			`"required":["image"],"title":"Input","type":"object"}`,
		output: `{"title":"Output","type":"string"}`,
	}, {
		name: "Secret with a None default is nullable",
		src: `from cog import BasePredictor, Input, Secret


class Predictor(BasePredictor):
    def predict(
        self,
        prompt: str = Input(description="Text prompt"),
        api_key: Secret = Input(description="Your API key", default=None),
        api_key_required: Secret = Input(description="Required API key"),
        seed: int = Input(description="Random seed", default=None),
    ) -> str:
        return prompt
`,
		input: `{"properties":{` +
			`"prompt":{"description":"Text prompt","title":"Prompt","type":"string","x-order":0},` +
			`"api_key":{"default":null,"description":"Your API key","format":"password","nullable":true,"title":"Api Key","type":"string","writeOnly":true,"x-cog-secret":true,"x-order":1},` +
			`"api_key_required":{"description":"Required API key","format":"password","title":"Api Key Required","type":"string","writeOnly":true,"x-cog-secret":true,"x-order":2},` +
			`"seed":{"description":"Random seed","title":"Seed","type":"integer","x-order":3}},` +
			`"required":["prompt","api_key_required","seed"],"title":"Input","type":"object"}`,
		output: `{"title":"Output","type":"string"}`,
	}, {
		name: "TypedDict output",
		src: `from typing import NotRequired, TypedDict

from cog import BasePredictor


class Output(TypedDict):
    name: str
    count: NotRequired[int]


class Predictor(BasePredictor):
    def predict(self) -> Output:
        return {"name": "alice", "count": 3}
`,
		input:  `{"properties":{},"title":"Input","type":"object"}`,
		output: `{"properties":{"name":{"title":"Name","type":"string"},"count":{"title":"Count","type":"integer"}},"required":["name"],"title":"Output","type":"object"}`,
	}, {
		name: "streaming Iterator",
		src: `import time
from typing import Iterator

from cog import BasePredictor, streaming


class Predictor(BasePredictor):
    @streaming
    def predict(self) -> Iterator[str]:
        yield "chunk-1"
`,
		input:     `{"properties":{},"title":"Input","type":"object"}`,
		output:    `{"items":{"type":"string"},"title":"Output","type":"array","x-cog-array-type":"iterator"}`,
		streaming: true,
	}, {
		name: "undecorated iterator does not stream",
		src: `from typing import Iterator
from cog import BasePredictor

class Predictor(BasePredictor):
    def predict(self, count: int) -> Iterator[str]:
        yield ""
`,
		input:  `{"properties":{"count":{"title":"Count","type":"integer","x-order":0}},"required":["count"],"title":"Input","type":"object"}`,
		output: `{"items":{"type":"string"},"title":"Output","type":"array","x-cog-array-type":"iterator"}`,
	}, {
		name: "cog.streaming ConcatenateIterator, async",
		src: `import cog
from cog import BasePredictor, ConcatenateIterator

class Predictor(BasePredictor):
    @cog.streaming
    async def run(self, prompt: str = "hi") -> ConcatenateIterator[str]:
        yield prompt
`,
		input:     `{"properties":{"prompt":{"default":"hi","title":"Prompt","type":"string","x-order":0}},"title":"Input","type":"object"}`,
		output:    `{"items":{"type":"string"},"title":"Output","type":"array","x-cog-array-display":"concatenate","x-cog-array-type":"iterator"}`,
		streaming: true,
	}, {
		name: "choices, constraints, defaults",
		src: `from cog import BasePredictor, Input

SIZES = ["small", "large"]
DEFAULT_TEMP = 0.7

class Predictor(BasePredictor):
    def predict(
        self,
        size: str = Input(choices=SIZES, default="small"),
        temperature: float = Input(ge=0, le=2.0, default=DEFAULT_TEMP),
        steps: int = Input(choices=[1, 2] + [4], default=2),
        name: str = Input(min_length=1, max_length=10, regex="^[a-z]+$", deprecated=True, default="x"),
        tags: list[str] = ["a", "b"],
        flag: bool = False,
        note: str | None = None,
    ) -> dict[str, list[int]]:
        return {}
`,
		input: `{"properties":{` +
			`"size":{"allOf":[{"$ref":"#/components/schemas/size"}],"default":"small","x-order":0},` +
			`"temperature":{"default":0.7,"maximum":2,"minimum":0,"title":"Temperature","type":"number","x-order":1},` +
			`"steps":{"allOf":[{"$ref":"#/components/schemas/steps"}],"default":2,"x-order":2},` +
			`"name":{"default":"x","deprecated":true,"maxLength":10,"minLength":1,"pattern":"^[a-z]+$","title":"Name","type":"string","x-order":3},` +
			`"tags":{"default":["a","b"],"items":{"type":"string"},"title":"Tags","type":"array","x-order":4},` +
			`"flag":{"default":false,"title":"Flag","type":"boolean","x-order":5},` +
			`"note":{"default":null,"nullable":true,"title":"Note","type":"string","x-order":6}},` +
			`"title":"Input","type":"object"}`,
		output: `{"additionalProperties":{"items":{"type":"integer"},"type":"array"},"title":"Output","type":"object"}`,
		extra: `,"size":{"description":"An enumeration.","enum":["small","large"],"title":"size","type":"string"}` +
			`,"steps":{"description":"An enumeration.","enum":[1,2,4],"title":"steps","type":"integer"}`,
	}, {
		name: "function predictor, BaseModel output from a local module",
		src: `from cog import Path
from .types import Result

def predict(text: str, file: Path) -> Result:
    return Result(text=text)
`,
		other: map[string]string{"types.py": `from typing import Optional
from cog import BaseModel, Path

class Result(BaseModel):
    text: str
    file: Optional[Path] = None
    score: float = 1.0
`},
		input: `{"properties":{"text":{"title":"Text","type":"string","x-order":0},"file":{"format":"uri","title":"File","type":"string","x-order":1}},"required":["text","file"],"title":"Input","type":"object"}`,
		output: `{"properties":{"text":{"title":"Text","type":"string"},"file":{"format":"uri","nullable":true,"title":"File","type":"string"},"score":{"title":"Score","type":"number"}},` +
			`"required":["text"],"title":"Output","type":"object"}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fs := map[string]string{"predict.py": tc.src}
			for k, v := range tc.other {
				fs[k] = v
			}
			res := generate(t, "predict.py:Predictor", "", fs)
			want := envelope(false, tc.input, tc.output, tc.extra, tc.streaming)
			if string(res.JSON) != want {
				t.Errorf("schema bytes differ from Cog's\n got: %s\nwant: %s\nfirst difference at byte %d", res.JSON, want, firstDiff(string(res.JSON), want))
			}
			if res.Streaming != tc.streaming {
				t.Errorf("Streaming = %v, want %v", res.Streaming, tc.streaming)
			}
		})
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

const trainFunc = `from cog import BaseModel, Input, Path


class TrainingOutput(BaseModel):
    weights: Path


def train(
    n: int,
) -> TrainingOutput:
    return TrainingOutput(weights=Path("weights.bin"))
`

const trainClass = `from cog import BasePredictor

class Trainer(BasePredictor):
    def setup(self) -> None:
        print("Trainer is setting up.")

    def train(self, s: str) -> str:
        return "hello train " + s

    def predict(self, s: str) -> str:
        return "hello predict " + s
`

const simplePredictor = `from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self, s: str) -> str:
        return "hello " + s
`

// The training output component keeps the title "Output": Cog renames
// only the input component's title (TrainingInput).
func TestTrainingSchemaOnly(t *testing.T) {
	res := generate(t, "", "train.py:train", map[string]string{"train.py": trainFunc})
	want := envelope(true,
		`{"properties":{"n":{"title":"N","type":"integer","x-order":0}},"required":["n"],"title":"TrainingInput","type":"object"}`,
		`{"properties":{"weights":{"format":"uri","title":"Weights","type":"string"}},"required":["weights"],"title":"Output","type":"object"}`, "", false)
	if string(res.JSON) != want {
		t.Errorf("got  %s\nwant %s", res.JSON, want)
	}
}

// With both run and train, Cog merges the two documents as plain JSON
// and writes them indented with sorted keys (GenerateCombined).
func TestPredictAndTrainSchemasMerge(t *testing.T) {
	for _, tc := range []struct {
		name, train, trainSrc, trainIn, trainOut string
	}{
		{"train function", "train.py:train", trainFunc,
			`{"properties":{"n":{"title":"N","type":"integer","x-order":0}},"required":["n"],"title":"TrainingInput","type":"object"}`,
			`{"properties":{"weights":{"format":"uri","title":"Weights","type":"string"}},"required":["weights"],"title":"Output","type":"object"}`},
		{"trainer class with setup", "train.py:Trainer", trainClass,
			`{"properties":{"s":{"title":"S","type":"string","x-order":0}},"required":["s"],"title":"TrainingInput","type":"object"}`,
			`{"title":"Output","type":"string"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := generate(t, "predict.py:Predictor", tc.train, map[string]string{"predict.py": simplePredictor, "train.py": tc.trainSrc})
			var pred, train map[string]any
			mustUnmarshal(t, envelope(false, `{"properties":{"s":{"title":"S","type":"string","x-order":0}},"required":["s"],"title":"Input","type":"object"}`, `{"title":"Output","type":"string"}`, "", false), &pred)
			mustUnmarshal(t, envelope(true, tc.trainIn, tc.trainOut, "", false), &train)
			for k, v := range train["paths"].(map[string]any) {
				if _, ok := pred["paths"].(map[string]any)[k]; !ok {
					pred["paths"].(map[string]any)[k] = v
				}
			}
			ps := pred["components"].(map[string]any)["schemas"].(map[string]any)
			for k, v := range train["components"].(map[string]any)["schemas"].(map[string]any) {
				if _, ok := ps[k]; !ok {
					ps[k] = v
				}
			}
			want, _ := json.MarshalIndent(pred, "", "  ")
			if string(res.JSON) != string(want) {
				t.Errorf("got  %s\nwant %s", res.JSON, want)
			}
			for _, s := range []string{`"/trainings": {`, `"TrainingInput": {`, `"TrainingOutput": {`, `"/predictions": {`} {
				if !strings.Contains(string(res.JSON), s) {
					t.Errorf("merged schema lacks %s", s)
				}
			}
		})
	}
}

func mustUnmarshal(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("expected document is not JSON: %v\n%s", err, s)
	}
}

func TestLegacyPredictMethodWarns(t *testing.T) {
	res := generate(t, "predict.py:Predictor", "", map[string]string{"predict.py": simplePredictor})
	if len(res.Warnings) != 1 || res.Warnings[0].Message != "Predictor.predict() is deprecated; use run() instead" || res.Warnings[0].Pos.Line != 5 {
		t.Errorf("warnings = %v", res.Warnings)
	}
}

func TestSchemaErrorsNameFileLineAndCogsMessage(t *testing.T) {
	for _, tc := range []struct {
		name, ref, src string
		other          map[string]string
		want           string // the whole Error() text: position, then Cog's message
	}{{
		name: "accept on a non-file input",
		ref:  "predict.py:Predictor",
		src: `from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(
        self,
        name: str = Input(description="User name", accept="text/plain"),
    ) -> str:
        return f"hello {name}"
`,
		want: "predict.py:7:9: accept is only valid on Path or File inputs (parameter 'name')",
	}, {
		name:  "type imported from a package __init__ cannot be resolved",
		ref:   "predict.py:Predictor",
		other: map[string]string{"mypackage/__init__.py": "from cog import BaseModel\n\nclass Output(BaseModel):\n    text: str\n"},
		src: `from cog import BasePredictor
from mypackage import Output


class Predictor(BasePredictor):
    def predict(self, prompt: str) -> Output:
        return Output(text=prompt + " world")
`,
		want: "predict.py:6:39: cannot resolve type 'Output' (imported from 'mypackage') - external types cannot be statically analyzed.",
	}, {
		name: "unknown type",
		ref:  "predict.py:Predictor",
		src:  "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def predict(self, x: Foo) -> str:\n        return ''\n",
		want: "predict.py:4:23: unsupported type: Foo",
	}, {
		name: "unknown output type",
		ref:  "predict.py:Predictor",
		src:  "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def predict(self) -> Foo:\n        return ''\n",
		want: "predict.py:4:26: cannot resolve type 'Foo' - it is not a primitive type (str, int, float, bool, Path) and no BaseModel definition was found in the predict file",
	}, {
		name: "no such predictor",
		ref:  "predict.py:DoesNotExist",
		src:  simplePredictor,
		want: "predict.py:1:1: predictor not found: DoesNotExist",
	}, {
		name: "class without run or predict",
		ref:  "predict.py:Predictor",
		src:  "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def setup(self):\n        pass\n",
		want: "predict.py:3:7: Predictor must define run() or predict()",
	}, {
		name: "default outside ge",
		ref:  "predict.py:Predictor",
		src: `from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(
        self, num: int = Input(description="Number of things", default=1, ge=2, le=10)
    ) -> int:
        return num * 2
`,
		want: "predict.py:6:15: invalid default for input 'num': 1 is less than minimum 2",
	}, {
		name: "missing return annotation",
		ref:  "predict.py:Predictor",
		src:  "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def predict(self, s: str):\n        return s\n",
		want: "predict.py:4:9: missing return type annotation on predict",
	}, {
		name: "untyped parameter with a default",
		ref:  "predict.py:Predictor",
		src:  "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def predict(self, s=1) -> str:\n        return s\n",
		want: "predict.py:4:23: parameter 's' on predict has no type annotation",
	}, {
		name: "Optional output",
		ref:  "predict.py:Predictor",
		src:  "from typing import Optional\nfrom cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def predict(self) -> Optional[str]:\n        return None\n",
		want: "predict.py:5:26: unsupported output type: Optional is not allowed as a return type",
	}, {
		name: "streaming needs an iterator",
		ref:  "predict.py:Predictor",
		src:  "from cog import BasePredictor, streaming\n\nclass Predictor(BasePredictor):\n    @streaming\n    def predict(self) -> str:\n        return ''\n",
		want: "predict.py:5:26: @streaming requires Iterator[...]",
	}, {
		name: "choices that are not literal",
		ref:  "predict.py:Predictor",
		src:  "from cog import BasePredictor, Input\n\nclass Predictor(BasePredictor):\n    def predict(self, s: str = Input(choices=get())) -> str:\n        return s\n",
		want: "predict.py:4:23: parameter 's': choices expression cannot be statically resolved",
	}, {
		name: "syntax error",
		ref:  "predict.py:Predictor",
		src:  "class Predictor(:\n    pass\n",
		want: "predict.py:1:17: cannot parse Python: invalid syntax near ':'",
	}, {
		name: "missing file",
		ref:  "nope.py:Predictor",
		src:  simplePredictor,
		want: "cog.yaml: predict: failed to read predictor source nope.py",
	}, {
		name: "train method missing on the class",
		ref:  "",
		src:  "",
		want: "train.py:3:7: Trainer.train not found",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fs := map[string]string{"predict.py": tc.src}
			for k, v := range tc.other {
				fs[k] = v
			}
			in := Input{Predict: tc.ref, PredictKey: "predict", TrainKey: "train", ReadFile: files(fs), Version: "0.22.0"}
			if tc.ref == "" {
				in.Train = "train.py:Trainer"
				fs["train.py"] = "from cog import BasePredictor\n\nclass Trainer(BasePredictor):\n    def predict(self) -> str:\n        return ''\n"
			}
			_, err := Generate(in)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error:\n got: %s\nwant: %s...", err, tc.want)
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Errorf("%T is not a *config.Error", err)
			}
		})
	}
}

func TestNoReference(t *testing.T) {
	_, err := Generate(Input{})
	if err == nil || !strings.Contains(err.Error(), "no predict or train reference found in cog.yaml") {
		t.Errorf("err = %v", err)
	}
}

// Every construct of modern Python parses: the parser skips what it does
// not need, and a valid file must never fail the build.
func TestParserAcceptsModernPython(t *testing.T) {
	src := `"""Docstring."""
from __future__ import annotations
import os, sys as system
from typing import (
    Any,
    Optional,  # trailing comment
)
from cog import BasePredictor, Input, Path
X: int = 3; Y = 4
type Alias = list[int]
@dataclass(frozen=True)
class Point[T]:
    x: T
    def __init__(self, *args, **kwargs) -> None: ...

def helper(a, /, b, *, c=lambda: {1: 2}, **kw):
    match a:
        case {"k": [1, *rest]} if rest:
            return f"{a!r:>{b}} {c['x']} {'nested "quotes"'}"
        case _:
            pass
    try:
        with open("f") as fh, open("g"):
            x = [i async for i in y] if a else {k: v for k, v in kw.items()}
    except* (ValueError, TypeError) as e:
        raise RuntimeError("bad") from e
    finally:
        del x
    while (n := len(a)) > 0:
        a = a[1:-1:2]; break
    global G
    return rb"raw\" bytes" + b'\x00' \
        + u"uni" + f'{id(a):#x}' + rf'\{{{b}' + f"""{
        a  # a comment inside a replacement field
    }"""

async def agen():
    async with lock:
        await thing()
    yield from range(3)

class Predictor(BasePredictor):
    def setup(self): self.m = {**base, "a": 1}
    def predict(self, prompt: str = Input(description="p", default="x"), n: int = -2) -> str:
        if prompt: return prompt
        elif n: return "n"
        else: return ""
`
	res := generate(t, "predict.py:Predictor", "", map[string]string{"predict.py": src})
	want := `"properties":{"prompt":{"default":"x","description":"p","title":"Prompt","type":"string","x-order":0},"n":{"default":-2,"title":"N","type":"integer","x-order":1}}`
	if !strings.Contains(string(res.JSON), want) {
		t.Errorf("schema lacks %s:\n%s", want, res.JSON)
	}
}

func ExampleGenerate() {
	res, err := Generate(Input{
		Predict:  "predict.py:Predictor",
		ReadFile: files(map[string]string{"predict.py": simplePredictor}),
		Version:  "0.22.0",
	})
	if err != nil {
		panic(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage
		}
	}
	_ = json.Unmarshal(res.JSON, &doc)
	fmt.Println(string(doc.Components.Schemas["Input"]))
	// Output: {"properties":{"s":{"title":"S","type":"string","x-order":0}},"required":["s"],"title":"Input","type":"object"}
}

// Cog reads literals from their source text and encodes with Go's JSON:
// escapes stay as written, adjacent strings keep their inner quotes, HTML
// characters are escaped, 1.0 is 1 and 1e-5 is 0.00001, dict keys print
// with %v and sort. These quirks are Cog's bytes (checked against its
// generator), so they are kept.
func TestLiteralQuirksMatchCog(t *testing.T) {
	src := `from cog import BasePredictor, Input, File

class Predictor(BasePredictor):
    def predict(self, e: File = Input(description="a <file> & more"), f: float = 1.0,
                g: float = 1e-5, h: int = -3, i: str = "caf\u00e9 \"q\"", j: dict = {"a": 1, 2: [True, None]},
                k: list[int] = {1, 2}, l: list[str] = (1, "x"), m: str = 'it''s',
                o: str = Input(min_length=2, max_length=5.0, regex=r"^\d+$", default="12")) -> str:
        return ""
`
	res := generate(t, "predict.py:Predictor", "", map[string]string{"predict.py": src})
	for _, want := range []string{
		`"e":{"description":"a \u003cfile\u003e \u0026 more","format":"uri","title":"E","type":"string","x-order":0}`,
		`"f":{"default":1,"title":"F","type":"number","x-order":1}`,
		`"g":{"default":0.00001,"title":"G","type":"number","x-order":2}`,
		`"h":{"default":-3,"title":"H","type":"integer","x-order":3}`,
		`"i":{"default":"caf\\u00e9 \\\"q\\\"","title":"I","type":"string","x-order":4}`,
		`"j":{"default":{"2":[true,null],"a":1},"title":"J","type":"object","x-order":5}`,
		`"k":{"default":[1,2],"items":{"type":"integer"},"title":"K","type":"array","x-order":6}`,
		`"l":{"default":[1,"x"],"items":{"type":"string"},"title":"L","type":"array","x-order":7}`,
		`"m":{"default":"it''s","title":"M","type":"string","x-order":8}`,
		`"o":{"default":"12","maxLength":5,"minLength":2,"pattern":"^\\d+$","title":"O","type":"string","x-order":9}`,
	} {
		if !strings.Contains(string(res.JSON), want) {
			t.Errorf("schema lacks %s", want)
		}
	}
}
