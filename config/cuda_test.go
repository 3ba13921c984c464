package config

import (
	"strings"
	"testing"
)

func gpuConfig(t *testing.T, extra string) *Config {
	t.Helper()
	cfg, _, err := Parse("cog.yaml", []byte(base+"  gpu: true\n"+extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestResolveCUDA(t *testing.T) {
	cases := []struct {
		name, extra, reqs, cuda, cudnn, why string
	}{
		{"default", "", "numpy==2.0\n", "11.8", "8", "the default"},
		{"torch newest cuda", "", "numpy\ntorch==2.5.1\n", "12.4", "9", "torch==2.5.1"},
		{"torch local version", "", "torch==2.1.0+cu118\n", "11.8", "8", "names it"},
		{"torch extras and spaces", "", "Torch [extra] == 2.7.0 ; python_version > '3'\n", "12.8", "9", "torch==2.7.0"},
		{"tensorflow wins", "", "torch==2.5.1\ntensorflow==2.16.1\n", "12.3", "9", "tensorflow==2.16.1"},
		{"explicit cuda wins", "  cuda: \"12.1\"\n", "torch==2.5.1\n", "12.1", "8", ""},
		{"explicit cudnn kept", "  cuda: \"11.8\"\n  cudnn: \"8\"\n", "", "11.8", "8", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := gpuConfig(t, tc.extra)
			warns, err := ResolveCUDA(cfg, tc.reqs)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Build.CUDA != tc.cuda || cfg.Build.CuDNN != tc.cudnn {
				t.Errorf("got CUDA %s cuDNN %s, want %s %s", cfg.Build.CUDA, cfg.Build.CuDNN, tc.cuda, tc.cudnn)
			}
			if tc.why == "" && len(warns) != 0 {
				t.Errorf("unexpected warnings %v", warns)
			}
			if tc.why != "" && (len(warns) != 1 || !strings.Contains(warns[0].Message, tc.why)) {
				t.Errorf("warnings = %v, want one mentioning %q", warns, tc.why)
			}
		})
	}
}

func TestResolveCUDANoopForCPU(t *testing.T) {
	cfg, _, _ := Parse("cog.yaml", []byte(base))
	if w, err := ResolveCUDA(cfg, "torch==2.5.1"); err != nil || w != nil || cfg.Build.CUDA != "" {
		t.Errorf("CPU build changed: %+v %v %v", cfg.Build, w, err)
	}
}

func TestCUDABaseImage(t *testing.T) {
	img, err := CUDABaseImage("12.1", "8")
	if err != nil || img != "nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04" {
		t.Errorf("CUDABaseImage(12.1, 8) = %q, %v", img, err)
	}
	if _, err := CUDABaseImage("12.1", "9"); err == nil || !strings.Contains(err.Error(), "comes with cuDNN 8") {
		t.Errorf("incompatible cuDNN: %v", err)
	}
	if _, err := CUDABaseImage("10.2", ""); err == nil || !strings.Contains(err.Error(), "supported: 11.0, 11.1") {
		t.Errorf("unknown CUDA: %v", err)
	}
	s := SupportedCUDAs()
	if s[0] != "11.0" || s[len(s)-1] != "12.9" {
		t.Errorf("SupportedCUDAs = %v", s)
	}
	for _, v := range s {
		if _, err := CUDABaseImage(v, CompatibleCuDNNs(v)[0]); err != nil {
			t.Errorf("table inconsistent for %s: %v", v, err)
		}
	}
}

func TestPEP440Order(t *testing.T) {
	ordered := []string{"0.15.9", "0.16.0.dev1", "0.16.0a1", "0.16.0b2", "0.16.0rc1", "0.16.0", "0.16.0.post1", "0.16.1", "0.16.10", "1.0", "1!0.1"}
	for i := 0; i+1 < len(ordered); i++ {
		a, err1 := parsePEP440(ordered[i])
		b, err2 := parsePEP440(ordered[i+1])
		if err1 != nil || err2 != nil {
			t.Fatalf("parse: %v %v", err1, err2)
		}
		if a.compare(b) >= 0 || b.compare(a) <= 0 {
			t.Errorf("%s should sort before %s", ordered[i], ordered[i+1])
		}
	}
	same := [][2]string{{"0.16", "0.16.0"}, {"v0.16.0", "0.16.0"}, {"0.16.0+local", "0.16.0"}, {"0.16.0RC1", "0.16.0rc1"}}
	for _, p := range same {
		a, _ := parsePEP440(p[0])
		b, _ := parsePEP440(p[1])
		if a.compare(b) != 0 {
			t.Errorf("%s and %s should be equal", p[0], p[1])
		}
	}
	for _, bad := range []string{"", "latest", "0.16.0-beta-x", "1..2", ">=0.16"} {
		if _, err := parsePEP440(bad); err == nil {
			t.Errorf("parsePEP440(%q) accepted", bad)
		}
	}
}

// Cog's CUDA/torch/TensorFlow rules, decided from cog.yaml and the
// requirements alone (no GPU, no CUDA image).
func TestCUDARulesInCogsWords(t *testing.T) {
	for _, tc := range []struct {
		name, extra, reqs string
		warn, err         string
	}{
		{"explicit CUDA torch has no wheels for", "  cuda: \"11.8\"\n", "torch==2.9.0\n",
			"Cog doesn't know if CUDA 11.8 is compatible with PyTorch 2.9.0. This might cause CUDA problems. Try 12.8 instead?", ""},
		{"explicit CUDA torch has wheels for", "  cuda: \"12.8\"\n", "torch==2.9.0\n", "", ""},
		{"TensorFlow built for another CUDA major", "  cuda: \"11.8\"\n", "tensorflow==2.16.1\n", "",
			"cog.yaml:4:3: build.cuda: TensorFlow 2.16.1 is incompatible with CUDA 11.8: TensorFlow 2.16.1 requires CUDA 12.3"},
		{"TensorFlow with its CUDA major", "  cuda: \"12.1\"\n", "tensorflow==2.16.1\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := gpuConfig(t, tc.extra)
			warns, err := ResolveCUDA(cfg, tc.reqs)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
			var msgs []string
			for _, w := range warns {
				msgs = append(msgs, w.Message)
			}
			if tc.warn != "" && !contains(msgs, tc.warn) {
				t.Errorf("warnings = %q, want %q", msgs, tc.warn)
			}
			if tc.warn == "" {
				for _, m := range msgs {
					if strings.Contains(m, "Cog doesn't know") {
						t.Errorf("unexpected warning %q", m)
					}
				}
			}
		})
	}
}
