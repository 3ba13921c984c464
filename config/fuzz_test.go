package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that any input either parses into a config that upholds
// the documented guarantees, or fails with positioned *Error values; never
// a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullYAML))
	f.Add([]byte(base + "run: predict.py:P\nconcurrency: {max: 2}\n"))
	f.Add([]byte("build:\n  python_version: 3.10\n  run: [{command: x, mounts: [{type: secret, id: a}]}]\n"))
	f.Add([]byte(model + "weights:\n  - name: a\n    target: /w/a\n    source: [{uri: w/a, include: ['*.bin']}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("- [\n"))
	seedFiles(f, "../examples/*/cog.yaml", "../testdata/llb/*/cog.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := Parse("cog.yaml", data)
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			errs := Errors(err)
			if len(errs) == 0 {
				t.Fatalf("error without *config.Error: %v", err)
			}
			for _, e := range errs {
				if e.Pos.File != "cog.yaml" || !strings.HasPrefix(e.Error(), "cog.yaml") || e.Pos.Line < 1 || e.Pos.Column < 1 {
					t.Fatalf("error without file position: %v", e)
				}
			}
			return
		}
		if _, err := cfg.LabelJSON(); err != nil {
			t.Fatalf("LabelJSON: %v", err)
		}
		targets := map[string]bool{}
		for _, w := range cfg.Weights {
			if !WeightNameRE.MatchString(w.Name) || !strings.HasPrefix(w.Target, "/") || w.Target == "/" || targets[w.Target] {
				t.Fatalf("invalid weight accepted: %+v", w)
			}
			targets[w.Target] = true
			for _, s := range w.Sources {
				if _, err := NormalizeSourceURI(s.URI); err != nil {
					t.Fatalf("source accepted but does not normalise: %v", err)
				}
			}
		}
		if len(cfg.Weights) > 0 && cfg.Model == "" {
			t.Fatal("weights without model accepted")
		}
		if cfg.Build != nil {
			for _, r := range cfg.Build.Run {
				if strings.ContainsAny(r.Command, "\n\r") || r.Command == "" {
					t.Fatalf("bad command accepted: %q", r.Command)
				}
			}
		}
	})
}

// FuzzParseLock checks that whatever ParseLock accepts survives a
// MarshalLock/ParseLock round trip unchanged, and that MarshalLock output is
// a fixed point.
func FuzzParseLock(f *testing.F) {
	f.Add([]byte(canonicalLockText))
	f.Add([]byte(`{"version":1,"envelopeFormat":"` + envelope + `","weights":[]}`))
	f.Add([]byte(`{"version": "1", "files": []}`))
	f.Add([]byte(`{"version":1,"version":1}`))
	f.Add([]byte(`{"a":"\ud83d\ude00\/"}`))
	seedFiles(f, "../examples/*/weights.lock")
	f.Fuzz(func(t *testing.T, data []byte) {
		lock, err := ParseLock("weights.lock", data)
		if err != nil {
			if len(Errors(err)) == 0 {
				t.Fatalf("error without *config.Error: %v", err)
			}
			for _, e := range Errors(err) {
				if e.Pos.File != "weights.lock" || e.Pos.Line < 1 || e.Pos.Column < 1 {
					t.Fatalf("error not at weights.lock:LINE:COL: %v", e)
				}
			}
			return
		}
		out, err := MarshalLock(lock)
		if err != nil {
			t.Fatalf("MarshalLock: %v", err)
		}
		lock2, err := ParseLock("weights.lock", out)
		if err != nil {
			t.Fatalf("canonical output does not parse: %v\n%s", err, out)
		}
		out2, _ := MarshalLock(lock2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("MarshalLock is not a fixed point:\n%s\n%s", out, out2)
		}
	})
}

// seedFiles adds the files the globs match (real projects) as seeds.
func seedFiles(f *testing.F, globs ...string) {
	n := 0
	for _, g := range globs {
		paths, _ := filepath.Glob(g)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no seed file matches %v", globs)
	}
}

// FuzzNormalizeSourceURI checks that normalised URIs are idempotent, use one
// of the allowed forms, and never point outside the project.
func FuzzNormalizeSourceURI(f *testing.F) {
	for _, s := range []string{"weights/a", "./a/../b", "file:///x/y", "hf://o/r@main", "huggingface://o/r@v", "https://h/p", "..", "file://./../a", "a/../../b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		got, err := NormalizeSourceURI(uri)
		if err != nil {
			return
		}
		again, err := NormalizeSourceURI(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", uri, got, again, err)
		}
		switch {
		case strings.HasPrefix(got, "file://./"):
			rel := strings.TrimPrefix(got, "file://./")
			if rel == "" || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || strings.HasPrefix(rel, "/") {
				t.Fatalf("%q escapes the project: %q", uri, got)
			}
		case strings.HasPrefix(got, "file:///"), strings.HasPrefix(got, "hf://"), strings.HasPrefix(got, "https://"):
		default:
			t.Fatalf("%q normalised to an unexpected form %q", uri, got)
		}
		if strings.HasSuffix(got, "@main") && strings.HasPrefix(got, "hf://") {
			t.Fatalf("@main kept: %q", got)
		}
	})
}
