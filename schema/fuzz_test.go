package schema

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
)

// FuzzGenerate feeds arbitrary predict.py sources, and a helper.py they
// may import, to the static schema generator. Whatever the bytes, Generate
// returns within a bound (no hang), never panics, and either gives valid
// JSON or fails with *config.Error values at FILE:LINE:COL inside the
// file.
func FuzzGenerate(f *testing.F) {
	// Seeds: the repository's real predictors, then small broken ones
	// (more live in testdata/fuzz/FuzzGenerate).
	paths, _ := filepath.Glob("../examples/*/predict.py")
	if len(paths) == 0 {
		f.Fatal("no examples/*/predict.py to seed from")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte(nil))
	}
	for _, s := range []string{
		"from cog import BasePredictor, Input, Path\nclass Predictor(BasePredictor):\n    def setup(self):\n        pass\n    def predict(self, text: str = Input(description=\"t\", default=\"x\"), n: int = Input(ge=1, le=5, default=2), p: Path = Input()) -> str:\n        return text\n",
		"from cog import BasePredictor\nfrom typing import Iterator, Optional, List\nclass Predictor(BasePredictor):\n    def predict(self, a: Optional[str] = None, b: List[int] = [1, 2]) -> Iterator[str]:\n        yield a\n",
		"from cog import BaseModel, BasePredictor\nclass Out(BaseModel):\n    a: int\n    b: str = 'x'\nclass Predictor(BasePredictor):\n    async def predict(self, x: float) -> Out:\n        return Out(a=1)\n",
		"class Predictor(BasePredictor):\n    def predict(self, x: str = Input(choices=['a', 'b'])) -> str:\n",
		"def predict(x: str) -> str:\n    return f'{x!r:>{10}}'\n",
		"class Predictor:\n  def predict(self, x: 'str', *args, **kw) -> \"int\":\n\treturn (lambda y: y)(x)\n",
		"x = [\n",
		"\"\"\"unterminated\n",
		"class Predictor(BasePredictor):\n    @cog.concurrent(max=4)\n    def predict(self, x: str) -> str: ...\n",
	} {
		f.Add([]byte(s), []byte(nil))
	}
	// predict.py importing its types from helper.py (which imports back).
	f.Add([]byte("from cog import BasePredictor\nfrom helper import Out, Kind\nfrom .helper import *\nclass Predictor(BasePredictor):\n    def run(self, k: Kind) -> Out:\n        pass\n"),
		[]byte("from cog import BaseModel\nfrom typing import Literal\nimport predict\nKind = Literal['a', 'b']\nclass Out(BaseModel):\n    x: int\n    y: list[str]\n"))
	f.Fuzz(func(t *testing.T, src, helper []byte) {
		files := map[string][]byte{"predict.py": src, "helper.py": helper}
		type out struct {
			res *Result
			err error
		}
		done := make(chan out, 1)
		go func() {
			res, err := Generate(Input{
				Predict: "predict.py:Predictor", PredictKey: "run", Version: "0.22.0",
				ReadFile: func(name string) ([]byte, error) {
					if b, ok := files[name]; ok {
						return b, nil
					}
					return nil, fs.ErrNotExist
				},
			})
			done <- out{res, err}
		}()
		var o out
		select {
		case o = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Generate did not return within 10s on:\n%q", src)
		}
		if o.err != nil {
			if o.res != nil {
				t.Fatal("a result returned with an error")
			}
			errs := config.Errors(o.err)
			if len(errs) == 0 {
				t.Fatalf("error without *config.Error: %v", o.err)
			}
			for _, e := range errs {
				b, ok := files[e.Pos.File]
				if !ok || e.Pos.Line < 1 || e.Pos.Column < 1 {
					t.Fatalf("error not at FILE:LINE:COL of a project file: %q (pos %+v)", e.Error(), e.Pos)
				}
				// Python ends a line at \n, \r\n or a lone \r.
				if lines := strings.Count(strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\r", "\n"), "\n") + 1; e.Pos.Line > lines {
					t.Fatalf("error at line %d of a %d-line file: %v", e.Pos.Line, lines, e)
				}
			}
			return
		}
		if !json.Valid(o.res.JSON) {
			t.Fatalf("schema is not JSON: %s", o.res.JSON)
		}
	})
}
