package config

import (
	"strings"
	"testing"
)

func TestTorchVersionRequiredWithGPU(t *testing.T) {
	gpu := "build:\n  gpu: true\n  python_version: \"3.12\"\n  python_requirements: requirements.txt\nrun: predict.py:Predictor\n"
	for _, tc := range []struct {
		name, yaml, reqs, want string
	}{
		{"bare torch", gpu, "numpy==2.1.0\ntorch\n", "requirements.txt:2:1: torch version must be specified when using CUDA"},
		{"bare torch with a comment", gpu, "torch  # the model\n", "requirements.txt:1:1: torch version must be specified when using CUDA"},
		{"pinned torch", gpu, "torch==2.7.1\n", ""},
		{"ranged torch", gpu, "torch>=2.6\n", ""},
		{"torch by URL", gpu, "torch @ https://example.com/torch.whl\n", ""},
		{"torchvision only", gpu, "torchvision\n", ""},
		{"cpu build", "build:\n  python_version: \"3.12\"\n  python_requirements: requirements.txt\n", "torch\n", ""},
		{"python_packages", "build:\n  gpu: true\n  python_version: \"3.12\"\n  python_packages:\n    - numpy\n    - torch\n", "", "cog.yaml:6:7: build.python_packages[1]: torch version must be specified when using CUDA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Parse("cog.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = CheckTorchPinned(cfg, "requirements.txt", []byte(tc.reqs))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("error = %v, want %s...", err, tc.want)
			}
		})
	}
}

// Cog's own wording, which its tests match exactly.
func TestCogWording(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"build:\n  python_version: \"3.7\"\n", `invalid build.python_version "3.7": minimum supported Python version is 3.10`},
		{"build:\n  python_version: \"3.8\"\n", `invalid build.python_version "3.8": minimum supported Python version is 3.10`},
		{"build:\n  python_version: \"3.9\"\n", `invalid build.python_version "3.9": minimum supported Python version is 3.10`},
	} {
		_, _, err := Parse("cog.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), "cog.yaml:2:19: "+tc.want) {
			t.Errorf("%q: error = %v, want %s", tc.yaml, err, tc.want)
		}
	}
	for _, tc := range []struct{ yaml, want string }{
		{"predict: predict.py:Predictor\n", `cog.yaml:1:1: deprecated field "predict": use "run" instead`},
		{"build:\n  python_version: \"3.12\"\n  python_packages:\n    - numpy\n", `cog.yaml:3:3: deprecated field "build.python_packages": use "build.python_requirements" instead`},
		{"build:\n  python_version: \"3.12\"\n  pre_install:\n    - echo\n", `cog.yaml:3:3: deprecated field "build.pre_install": use "build.run" instead`},
	} {
		_, ws, err := Parse("cog.yaml", []byte(tc.yaml))
		if err != nil || len(ws) != 1 || !strings.HasPrefix(ws[0].String(), tc.want) {
			t.Errorf("%q: warnings = %v (err %v), want %s", tc.yaml, ws, err, tc.want)
		}
	}
}

func TestStaticSchemaNeedsSDK017(t *testing.T) {
	for v, want := range map[string]string{
		"0.16.8": "cog.yaml:3:3: build.sdk_version: SDK version 0.16.8 is not supported by static schema generation; use 0.17.0 or newer",
		"0.17.0": "",
		"0.22.0": "",
	} {
		cfg, _, err := Parse("cog.yaml", []byte("build:\n  python_version: \"3.12\"\n  sdk_version: \""+v+"\"\nrun: predict.py:Predictor\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = CheckStaticSchemaSDK(cfg)
		if (want == "") != (err == nil) || err != nil && err.Error() != want {
			t.Errorf("sdk_version %s: err = %v, want %q", v, err, want)
		}
	}
}
