package config

import (
	"strings"
	"testing"
)

func TestNormalizeSourceURI(t *testing.T) {
	ok := map[string]string{
		"weights/minilm":                "file://./weights/minilm",
		"./weights//minilm/":            "file://./weights/minilm",
		"weights/../other":              "file://./other",
		"file://./weights/minilm":       "file://./weights/minilm",
		"file://weights/minilm":         "file://./weights/minilm",
		"/data/models/x/":               "file:///data/models/x",
		"file:///data/models/../x":      "file:///data/x",
		"hf://org/repo":                 "hf://org/repo",
		"hf://org/repo@main":            "hf://org/repo",
		"hf://org/repo@v1.0":            "hf://org/repo@v1.0",
		"huggingface://org/repo@abc123": "hf://org/repo@abc123",
		"HF://Org/Repo.v2":              "hf://Org/Repo.v2",
		"https://example.com/m.bin?x=1": "https://example.com/m.bin?x=1",
	}
	for in, want := range ok {
		got, err := NormalizeSourceURI(in)
		if err != nil || got != want {
			t.Errorf("NormalizeSourceURI(%q) = %q, %v; want %q", in, got, err, want)
		}
		// Normalising is idempotent: the lockfile form maps to itself.
		if again, err := NormalizeSourceURI(got); err != nil || again != got {
			t.Errorf("NormalizeSourceURI(%q) = %q, %v; not idempotent", got, again, err)
		}
	}
	bad := map[string]string{
		"":                     "empty",
		".":                    "project directory itself",
		"./":                   "project directory itself",
		"file://.":             "project directory itself",
		"a/..":                 "project directory itself",
		"..":                   "leaves the project",
		"../x":                 "leaves the project",
		"file://./../x":        "leaves the project",
		"/":                    "root directory",
		"file://":              "empty",
		"hf://org":             "hf://org/repo",
		"hf://org/repo/sub":    "hf://org/repo",
		"hf://org/repo@":       "revision",
		"hf://../repo":         "hf://org/repo",
		"http://example.com/x": "plain http",
		"https://":             "not a valid https URL",
		"https://u:p@host/x":   "credentials",
		"s3://bucket/key":      "unknown source scheme",
		"a\\b":                 "backslash",
		"a\x00b":               "control character",
	}
	for in, want := range bad {
		_, err := NormalizeSourceURI(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NormalizeSourceURI(%q) error = %v; want it to mention %q", in, err, want)
			continue
		}
		if !strings.Contains(err.Error(), "hf://org/repo[@revision]") {
			t.Errorf("error for %q does not say what is allowed: %v", in, err)
		}
	}
}

func TestCheckPattern(t *testing.T) {
	for _, p := range []string{"*.safetensors", "onnx/", "/top.json", "**/*.bin", "a/**", "a/**/b", "model-?.bin", "[ab].json", "dir/sub/file"} {
		if err := CheckPattern(p); err != nil {
			t.Errorf("CheckPattern(%q) = %v", p, err)
		}
	}
	bad := map[string]string{
		"":       "empty",
		"  ":     "empty",
		"a ":     "spaces",
		"!a":     "negated",
		"a\\b":   "not allowed",
		"a\tb":   "control",
		"/":      "matches nothing",
		"//":     "matches nothing",
		"a**":    "whole path component",
		"x/[a-/": "valid glob",
	}
	for p, want := range bad {
		if err := CheckPattern(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPattern(%q) = %v, want it to mention %q", p, err, want)
		}
	}
}
