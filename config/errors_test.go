package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// base is a valid minimal build section that error cases extend.
const base = "build:\n  python_version: \"3.11\"\n"

// TestParseRejects pins every cog.yaml rule: each bad input gives an *Error
// at the offending line:col, naming the key path and quoting the value.
func TestParseRejects(t *testing.T) {
	cases := []struct {
		name, yaml string
		at         string   // "line:col" of the error
		path       string   // key path
		contains   []string // further substrings (the value, the advice)
	}{
		{"unknown top-level key", "foo: 1\n", "1:1", "foo", []string{`unknown key (got "foo")`, "allowed keys here: build, image"}},
		{"unknown build key", base + "  pyhton_version: 3\n", "3:3", "build.pyhton_version", []string{`(got "pyhton_version")`}},
		{"duplicate key", base + "  gpu: true\n  gpu: false\n", "4:3", "build.gpu", []string{"set twice", "first set at line 3"}},
		{"root is a list", "- a\n- b\n", "1:1", "", []string{"must be a mapping", "(got a list)"}},
		{"yaml syntax", "build:\n  python_version: \"3.11\n", "", "", []string{"not valid YAML"}},
		{"run and predict", base + "run: predict.py:P\npredict: predict.py:P\n", "4:1", "predict", []string{"both set", "keep only run"}},
		{"ref without class", "run: predict.py\n", "1:6", "run", []string{`(got "predict.py")`, "file.py:ClassName"}},
		{"ref bad class", "run: predict.py:1x\n", "1:6", "run", []string{"class name", `"predict.py:1x"`}},
		{"ref escapes project", "train: ../t.py:T\n", "1:8", "train", []string{"inside the project"}},
		{"ref not python", "run: predict.js:P\n", "1:6", "run", []string{"Python file"}},
		{"build needs python_version", "build:\n  gpu: false\n", "1:1", "build.python_version", []string{"is required"}},
		{"python too old", "build:\n  python_version: \"3.9\"\n", "2:19", "build.python_version", []string{`invalid build.python_version "3.9": minimum supported Python version is 3.10`, `"3.10" or newer`}},
		{"python too new", "build:\n  python_version: \"3.99\"\n", "2:19", "build.python_version", []string{`invalid build.python_version "3.99": unsupported Python version; supported: 3.10, 3.11, 3.12, 3.13`}},
		{"python float 3.1", "build:\n  python_version: 3.1\n", "2:19", "build.python_version", []string{`invalid build.python_version "3.1": minimum supported Python version is 3.10`, `quote it: "3.10"`}},
		{"python garbage", "build:\n  python_version: three\n", "2:19", "build.python_version", []string{"not a Python version", `"three"`}},
		{"python list", "build:\n  python_version: [3]\n", "2:19", "build.python_version", []string{"must be a string", "(got a list)"}},
		{"gpu not bool", base + "  gpu: \"yes\"\n", "3:8", "build.gpu", []string{"true or false", `"yes"`}},
		{"cuda too old", base + "  gpu: true\n  cuda: \"10.2\"\n", "4:9", "build.cuda", []string{"minimum supported CUDA version is 11", `"10.2"`}},
		{"cuda unknown", base + "  gpu: true\n  cuda: \"12.7\"\n", "4:9", "build.cuda", []string{"no CUDA base image", "12.8"}},
		{"cuda garbage", base + "  gpu: true\n  cuda: twelve\n", "4:9", "build.cuda", []string{"not a CUDA version"}},
		{"cudnn incompatible", base + "  gpu: true\n  cuda: \"12.1\"\n  cudnn: \"9\"\n", "5:10", "build.cudnn", []string{"CUDA 12.1 is incompatible with CuDNN 9: compatible CuDNN versions are: 8"}},
		{"requirements outside", base + "  python_requirements: ../r.txt\n", "3:24", "build.python_requirements", []string{`"../r.txt"`, "inside the project"}},
		{"requirements absolute", base + "  python_requirements: /r.txt\n", "3:24", "build.python_requirements", []string{`"/r.txt"`}},
		{"requirements and packages", base + "  python_requirements: r.txt\n  python_packages: [numpy]\n", "4:3", "build.python_packages", []string{"both set"}},
		{"system package option", base + "  system_packages:\n    - -y\n", "4:7", "build.system_packages[0]", []string{`"-y"`, "apt package name"}},
		{"system package spaces", base + "  system_packages: [\"a b\"]\n", "3:21", "build.system_packages[0]", []string{`"a b"`}},
		{"run newline", base + "  run:\n    - \"echo a\\necho b\"\n", "4:7", "build.run[0]", []string{"one line", `"echo a\necho b"`, "&&"}},
		{"run empty", base + "  run:\n    - \"  \"\n", "4:7", "build.run[0]", []string{"is empty"}},
		{"run no command", base + "  run:\n    - mounts: []\n", "4:7", "build.run[0].command", []string{"is required"}},
		{"run unknown key", base + "  run:\n    - command: x\n      cmd: y\n", "5:7", "build.run[0].cmd", []string{"unknown key", "command, mounts"}},
		{"mount type", base + "  run:\n    - command: x\n      mounts:\n        - type: ssh\n          id: a\n", "6:17", "build.run[0].mounts[0].type", []string{"must be secret", `"ssh"`}},
		{"mount id", base + "  run:\n    - command: x\n      mounts:\n        - type: secret\n", "6:11", "build.run[0].mounts[0].id", []string{"is required"}},
		{"mount target", base + "  run:\n    - command: x\n      mounts: [{type: secret, id: a, target: rel}]\n", "5:46", "build.run[0].mounts[0].target", []string{"absolute", `"rel"`}},
		{"sdk too old", base + "  sdk_version: \"0.15.9\"\n", "3:16", "build.sdk_version", []string{"0.16.0 or newer", `"0.15.9"`}},
		{"sdk prerelease of minimum", base + "  sdk_version: 0.16.0rc1\n", "3:16", "build.sdk_version", []string{"0.16.0 or newer"}},
		{"sdk not pep440", base + "  sdk_version: latest\n", "3:16", "build.sdk_version", []string{"PEP 440", `"latest"`}},
		{"concurrency max missing", "concurrency:\n  default_target: 1\n", "2:3", "concurrency.max", []string{"is required"}},
		{"concurrency max zero", "concurrency:\n  max: 0\n", "2:8", "concurrency.max", []string{"at least 1", "(got 0)"}},
		{"concurrency max text", "concurrency:\n  max: many\n", "2:8", "concurrency.max", []string{"whole number", `"many"`}},
		{"concurrency default above max", "concurrency:\n  max: 2\n  default_target: 3\n", "3:19", "concurrency.default_target", []string{"between 1 and concurrency.max", "(got 3)"}},
		{"concurrency unknown", "concurrency:\n  max: 2\n  min: 1\n", "3:3", "concurrency.min", []string{"unknown key"}},
		{"concurrency needs 3.11", "build:\n  python_version: \"3.10\"\nconcurrency:\n  max: 2\n", "4:3", "concurrency.max", []string{"Python 3.11 or newer", "Python 3.10"}},
		{"env no equals", "environment:\n  - FOO\n", "2:5", "environment[0]", []string{"KEY=VALUE", `"FOO"`}},
		{"env bad name", "environment:\n  - 1A=x\n", "2:5", "environment[0]", []string{"not a valid variable name", `"1A"`}},
		{"env reserved name", "environment:\n  - PATH=/x\n", "2:5", "environment[0]", []string{"reserved", `"PATH"`}},
		{"env reserved prefix", "environment:\n  - R8_X=1\n", "2:5", "environment[0]", []string{"starting with R8_", `"R8_X"`}},
		{"env reserved cuda prefix", "environment:\n  - CUDA_VISIBLE_DEVICES=0\n", "2:5", "environment[0]", []string{"starting with CUDA_"}},
		{"env duplicate", "environment:\n  - A=1\n  - A=2\n", "3:5", "environment[1]", []string{"set twice", `"A"`, "line 2"}},
		{"env not list", "environment: A=1\n", "1:14", "environment", []string{"must be a list"}},
		{"image and model", "image: r.example.com/a/b:1\nmodel: r.example.com/a/b\n", "2:1", "model", []string{"image and model are both set"}},
		{"model with tag", "model: r.example.com/a/b:v1\n", "1:8", "model", []string{"bare repository", `"r.example.com/a/b:v1"`}},
		{"image invalid", "image: \"UPPER/Case\"\n", "1:8", "image", []string{"not a valid image reference", `"UPPER/Case"`}},
		{"weights need model (empty model key)", "model:\nweights:\n  - name: a\n    target: /w/a\n    source: {uri: w/a}\n", "2:1", "weights", []string{"need a model repository"}},
		{"weights need model", "weights:\n  - name: a\n    target: /w/a\n    source: {uri: w/a}\n", "1:1", "weights", []string{"need a model repository", "model:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkRejects(t, tc.yaml, tc.at, tc.path, tc.contains)
		})
	}
}

const model = "model: r.example.com/acct/m\n"

func TestParseRejectsWeights(t *testing.T) {
	w := func(s string) string { return model + "weights:\n" + s }
	cases := []struct {
		name, yaml, at, path string
		contains             []string
	}{
		{"bad name", w("  - name: Bad_Name\n    target: /w/a\n    source: {uri: w/a}\n"), "3:11", "weights[0].name", []string{`"Bad_Name"`, "lower-case"}},
		{"name trailing dash", w("  - name: a-\n    target: /w/a\n    source: {uri: w/a}\n"), "3:11", "weights[0].name", []string{`"a-"`}},
		{"duplicate name", w("  - name: a\n    target: /w/a\n    source: {uri: w/a}\n  - name: a\n    target: /w/b\n    source: {uri: w/b}\n"), "6:5", "weights[1].name", []string{"used twice", `"a"`, "line 3"}},
		{"missing target", w("  - name: a\n    source: {uri: w/a}\n"), "3:5", "weights[0].target", []string{"is required", "absolute"}},
		{"relative target", w("  - name: a\n    target: w/a\n    source: {uri: w/a}\n"), "4:13", "weights[0].target", []string{"absolute", `"w/a"`}},
		{"root target", w("  - name: a\n    target: /./\n    source: {uri: w/a}\n"), "4:13", "weights[0].target", []string{"root", `"/./"`}},
		{"duplicate target after cleaning", w("  - name: a\n    target: /w/a\n    source: {uri: w/a}\n  - name: b\n    target: /w/a/\n    source: {uri: w/b}\n"), "7:5", "weights[1].target", []string{"also used by weight \"a\"", `"/w/a"`}},
		{"nested target", w("  - name: a\n    target: /w/a/b\n    source: {uri: w/a}\n  - name: b\n    target: /w/a\n    source: {uri: w/b}\n"), "7:5", "weights[1].target", []string{"nested", "weight \"a\" (/w/a/b)", `(got "/w/a")`}},
		{"source empty list", w("  - name: a\n    target: /w/a\n    source: []\n"), "5:13", "weights[0].source", []string{"empty list"}},
		{"source string", w("  - name: a\n    target: /w/a\n    source: w/a\n"), "5:13", "weights[0].source", []string{"source mapping", `"w/a"`}},
		{"source missing uri", w("  - name: a\n    target: /w/a\n    source: {include: [x]}\n"), "5:13", "weights[0].source.uri", []string{"is required"}},
		{"uri escapes", w("  - name: a\n    target: /w/a\n    source: {uri: ../w}\n"), "5:19", "weights[0].source.uri", []string{"leaves the project", `"../w"`}},
		{"uri project dir", w("  - name: a\n    target: /w/a\n    source: {uri: ./}\n"), "5:19", "weights[0].source.uri", []string{"project directory itself"}},
		{"uri scheme", w("  - name: a\n    target: /w/a\n    source: {uri: \"s3://b/k\"}\n"), "5:19", "weights[0].source.uri", []string{"unknown source scheme", "hf://"}},
		{"include negated", w("  - name: a\n    target: /w/a\n    source:\n      uri: w/a\n      include: [\"!x\"]\n"), "7:17", "weights[0].source.include[0]", []string{"negated", `"!x"`}},
		{"exclude backslash", w("  - name: a\n    target: /w/a\n    source:\n      - uri: w/a\n        exclude: [\"a\\\\b\"]\n"), "7:19", "weights[0].source[0].exclude[0]", []string{"is not allowed in patterns", `"a\\b"`}},
		{"exclude bad glob", w("  - name: a\n    target: /w/a\n    source:\n      uri: w/a\n      exclude: [\"[abc\"]\n"), "7:17", "weights[0].source.exclude[0]", []string{"not a valid glob", `"[abc"`}},
		{"include double star mid-component", w("  - name: a\n    target: /w/a\n    source:\n      uri: w/a\n      include: [\"a**b\"]\n"), "7:17", "weights[0].source.include[0]", []string{"whole path component"}},
		{"unknown weight key", w("  - name: a\n    target: /w/a\n    dest: /x\n    source: {uri: w/a}\n"), "5:5", "weights[0].dest", []string{"unknown key", "name, target, source"}},
		{"unknown source key", w("  - name: a\n    target: /w/a\n    source: {uri: w/a, filter: x}\n"), "5:24", "weights[0].source.filter", []string{"unknown key", "uri, include, exclude"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkRejects(t, tc.yaml, tc.at, tc.path, tc.contains)
		})
	}
}

func checkRejects(t *testing.T, yaml, at, path string, contains []string) {
	t.Helper()
	cfg, _, err := Parse("cog.yaml", []byte(yaml))
	if err == nil {
		t.Fatalf("Parse accepted it: %+v", cfg)
	}
	if cfg != nil {
		t.Errorf("Parse returned a config along with an error")
	}
	errs := Errors(err)
	if len(errs) == 0 {
		t.Fatalf("no *config.Error in %v", err)
	}
	var found *Error
	for _, e := range errs {
		if e.Path == path && (at == "" || posString(e.Pos) == at) {
			found = e
		}
	}
	if found == nil {
		t.Fatalf("no error at %s for path %q; got:\n%v", at, path, err)
	}
	msg := found.Error()
	prefix := "cog.yaml:" + at + ": "
	if at == "" {
		prefix = "cog.yaml:"
	}
	if !strings.HasPrefix(msg, prefix) {
		t.Errorf("message %q does not start with %q", msg, prefix)
	}
	for _, c := range contains {
		if !strings.Contains(msg, c) {
			t.Errorf("message %q does not contain %q", msg, c)
		}
	}
}

func posString(p Position) string { return itoa(p.Line) + ":" + itoa(p.Column) }

func TestParseReportsAllErrorsAtOnce(t *testing.T) {
	_, _, err := Parse("cog.yaml", []byte("build:\n  python_version: \"3.8\"\n  gpu: maybe\nfoo: 1\nenvironment: [PATH=/x]\n"))
	errs := Errors(err)
	got := []string{}
	for _, e := range errs {
		got = append(got, e.Path)
	}
	want := []string{"foo", "build.python_version", "build.gpu", "environment[0]"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("paths = %v, want %v\n%v", got, want, err)
	}
	if n := strings.Count(err.Error(), "\n"); n != 3 {
		t.Errorf("joined message has %d newlines, want 3:\n%v", n, err)
	}
}

func TestParseErrorFileName(t *testing.T) {
	_, _, err := Parse("sub/cog.prod.yaml", []byte("foo: 1\n"))
	if !strings.HasPrefix(err.Error(), "sub/cog.prod.yaml:1:1: foo: ") {
		t.Errorf("got %v", err)
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Pos.File != "sub/cog.prod.yaml" {
		t.Errorf("position file = %+v", ce)
	}
}

func TestParseYAMLSyntaxErrorHasLineAndColumn(t *testing.T) {
	_, _, err := Parse("cog.yaml", []byte("build:\n  python_version: \"3.11\"\n run: x\n"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Pos.Line == 0 {
		t.Fatalf("want positioned error, got %v", err)
	}
	// yaml.v3 names the line of the mapping it was in; the column is where
	// that line's text starts.
	if !strings.HasPrefix(err.Error(), "cog.yaml:2:3: not valid YAML") {
		t.Errorf("got %v", err)
	}
}

func TestParseBadBytesArePositioned(t *testing.T) {
	_, _, err := Parse("cog.yaml", []byte("build:\n  gpu: tr\x01ue\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "cog.yaml:2:10: not valid YAML") {
		t.Errorf("got %v, want cog.yaml:2:10", err)
	}
}

func TestErrorsFindsWrappedJoinedErrors(t *testing.T) {
	_, _, err := Parse("cog.yaml", []byte("foo: 1\nbar: 2\n"))
	wrapped := fmt.Errorf("reading cog.yaml: %w", err)
	if got := Errors(wrapped); len(got) != 2 || got[0].Path != "foo" || got[1].Path != "bar" {
		t.Errorf("Errors(wrapped) = %v", got)
	}
	if Errors(errors.New("plain")) != nil {
		t.Error("Errors found a config error in a plain error")
	}
}

func TestYAMLPositionsCountCRLineBreaks(t *testing.T) {
	_, _, err := Parse("cog.yaml", []byte("build:\r  python_version: \"3.12\"\r  gpu: tr\x01ue\r"))
	if err == nil || !strings.HasPrefix(err.Error(), "cog.yaml:3:10: not valid YAML") {
		t.Errorf("got %v, want cog.yaml:3:10", err)
	}
}
