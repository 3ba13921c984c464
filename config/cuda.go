package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// DefaultCUDA is used with gpu: true when neither cuda: nor a torch or
// tensorflow pin decides (Cog's default).
const DefaultCUDA = "11.8"

// cudaImage is the nvidia/cuda devel image Cog uses for one CUDA minor
// version: the newest patch release, on Ubuntu 22.04 where NVIDIA publishes
// one (20.04 before CUDA 11.7). Facts from NVIDIA's published tags as listed
// in Cog's CUDA table.
type cudaImage struct {
	cudnn string
	tag   string
}

var cudaImages = map[string]cudaImage{
	"11.0": {"8", "11.0.3-cudnn8-devel-ubuntu20.04"},
	"11.1": {"8", "11.1.1-cudnn8-devel-ubuntu20.04"},
	"11.2": {"8", "11.2.2-cudnn8-devel-ubuntu20.04"},
	"11.3": {"8", "11.3.1-cudnn8-devel-ubuntu20.04"},
	"11.4": {"8", "11.4.3-cudnn8-devel-ubuntu20.04"},
	"11.5": {"8", "11.5.2-cudnn8-devel-ubuntu20.04"},
	"11.6": {"8", "11.6.2-cudnn8-devel-ubuntu20.04"},
	"11.7": {"8", "11.7.1-cudnn8-devel-ubuntu22.04"},
	"11.8": {"8", "11.8.0-cudnn8-devel-ubuntu22.04"},
	"12.0": {"8", "12.0.1-cudnn8-devel-ubuntu22.04"},
	"12.1": {"8", "12.1.1-cudnn8-devel-ubuntu22.04"},
	"12.2": {"8", "12.2.2-cudnn8-devel-ubuntu22.04"},
	"12.3": {"9", "12.3.2-cudnn9-devel-ubuntu22.04"},
	"12.4": {"9", "12.4.1-cudnn-devel-ubuntu22.04"},
	"12.5": {"9", "12.5.1-cudnn-devel-ubuntu22.04"},
	"12.6": {"9", "12.6.3-cudnn-devel-ubuntu22.04"},
	"12.8": {"9", "12.8.1-cudnn-devel-ubuntu22.04"},
	"12.9": {"9", "12.9.1-cudnn-devel-ubuntu22.04"},
}

// SupportedCUDAs lists the CUDA versions that have a base image, oldest first.
func SupportedCUDAs() []string {
	out := make([]string, 0, len(cudaImages))
	for v := range cudaImages {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return versionLess(out[i], out[j]) })
	return out
}

// CompatibleCuDNNs lists the cuDNN major versions with a base image for a
// CUDA "major.minor"; nil when the CUDA version is unknown.
func CompatibleCuDNNs(cuda string) []string {
	if img, ok := cudaImages[cuda]; ok {
		return []string{img.cudnn}
	}
	return nil
}

// CUDABaseImage returns the nvidia/cuda image reference for a CUDA
// "major.minor" and a cuDNN major, e.g. "nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04".
func CUDABaseImage(cuda, cudnn string) (string, error) {
	img, ok := cudaImages[cuda]
	if !ok {
		return "", fmt.Errorf("no CUDA base image for CUDA %q; supported: %s", cuda, strings.Join(SupportedCUDAs(), ", "))
	}
	if cudnn != "" && cudnn != img.cudnn {
		return "", fmt.Errorf("no CUDA base image for CUDA %s with cuDNN %s; CUDA %s comes with cuDNN %s", cuda, cudnn, cuda, img.cudnn)
	}
	return "nvidia/cuda:" + img.tag, nil
}

// torchCUDAs lists, per torch minor release, the CUDA versions PyTorch
// publishes wheels for (download.pytorch.org/whl/cuXYZ), restricted to
// versions that have a base image above.
var torchCUDAs = map[string][]string{
	"1.13": {"11.6", "11.7"},
	"2.0":  {"11.7", "11.8"},
	"2.1":  {"11.8", "12.1"},
	"2.2":  {"11.8", "12.1"},
	"2.3":  {"11.8", "12.1"},
	"2.4":  {"11.8", "12.1", "12.4"},
	"2.5":  {"11.8", "12.1", "12.4"},
	"2.6":  {"11.8", "12.4", "12.6"},
	"2.7":  {"11.8", "12.6", "12.8"},
	"2.8":  {"12.6", "12.8", "12.9"},
	"2.9":  {"12.6", "12.8"},
}

// tfCUDA is TensorFlow's tested CUDA and cuDNN per minor release
// (tensorflow.org "tested build configurations").
var tfCUDA = map[string][2]string{
	"2.11": {"11.2", "8"},
	"2.12": {"11.8", "8"},
	"2.13": {"11.8", "8"},
	"2.14": {"11.8", "8"},
	"2.15": {"12.2", "8"},
	"2.16": {"12.3", "9"},
	"2.17": {"12.3", "9"},
	"2.18": {"12.5", "9"},
	"2.19": {"12.5", "9"},
	"2.20": {"12.5", "9"},
}

// ResolveCUDA completes build.cuda and build.cudnn for a GPU build the way
// Cog does: an explicit cuda: wins; otherwise a tensorflow pin decides
// (TensorFlow needs the exact CUDA it was built against), else the newest
// CUDA a torch pin has wheels for (torch bundles its own CUDA libraries),
// else DefaultCUDA. cuDNN follows from the base image table. requirements is
// the text of the requirements file (or python_packages joined by "\n").
// It does nothing for CPU builds. Warnings explain choices the user may want
// to pin.
func ResolveCUDA(cfg *Config, requirements string) ([]Warning, error) {
	if cfg == nil || cfg.Build == nil || !cfg.Build.GPU {
		return nil, nil
	}
	b := cfg.Build
	pos := cfg.Source["build.gpu"]
	var warnings []Warning
	if b.CUDA == "" {
		cuda, why := cudaFromRequirements(requirements)
		if cuda == "" {
			cuda, why = DefaultCUDA, "the default"
		}
		b.CUDA = cuda
		warnings = append(warnings, Warning{Pos: pos, Path: "build.cuda", Message: "using CUDA " + cuda + " (" + why + "); set build.cuda to pin it"})
	}
	warnings = append(warnings, frameworkCompatibility(cfg, requirements)...)
	if err := tensorflowCUDAMismatch(cfg, requirements); err != nil {
		return warnings, err
	}
	img, ok := cudaImages[b.CUDA]
	if !ok {
		return warnings, &Error{Pos: cfg.Source["build.cuda"], Path: "build.cuda",
			Msg: message("no CUDA base image exists for this version", quote(b.CUDA), "supported: "+strings.Join(SupportedCUDAs(), ", "))}
	}
	if b.CuDNN == "" {
		b.CuDNN = img.cudnn
	} else if b.CuDNN != img.cudnn {
		return warnings, &Error{Pos: cfg.Source["build.cudnn"], Path: "build.cudnn",
			Msg: message("this cuDNN does not go with CUDA "+b.CUDA, quote(b.CuDNN), "CUDA "+b.CUDA+" works with cuDNN "+img.cudnn)}
	}
	return warnings, nil
}

var reqLineRE = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([0-9][0-9A-Za-z.+!_-]*)`)

// cudaFromRequirements picks a CUDA version from pinned torch/tensorflow.
func cudaFromRequirements(requirements string) (cuda, why string) {
	var torch, tf string
	for _, line := range strings.Split(requirements, "\n") {
		line = strings.TrimSpace(line)
		m := reqLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch normalizePackageName(m[1]) {
		case "torch":
			torch = m[2]
		case "tensorflow", "tensorflow-gpu":
			tf = m[2]
		}
	}
	if tf != "" {
		if c, ok := tfCUDA[minorOf(tf)]; ok {
			return c[0], "tensorflow==" + tf + " was built against it"
		}
	}
	if torch != "" {
		// An explicit local version such as 2.1.0+cu121 names the CUDA.
		if _, local, ok := strings.Cut(torch, "+cu"); ok && len(local) >= 3 {
			v := local[:len(local)-1] + "." + local[len(local)-1:]
			if _, known := cudaImages[v]; known {
				return v, "torch==" + torch + " names it"
			}
		}
		if cudas := torchCUDAs[minorOf(torch)]; len(cudas) > 0 {
			return cudas[len(cudas)-1], "the newest CUDA torch==" + torch + " has wheels for"
		}
	}
	return "", ""
}

// normalizePackageName applies PEP 503 normalisation.
func normalizePackageName(s string) string {
	s = strings.ToLower(s)
	return strings.NewReplacer("_", "-", ".", "-").Replace(s)
}

// minorOf returns "X.Y" of a version "X.Y.Z+local".
func minorOf(v string) string {
	v, _, _ = strings.Cut(v, "+")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

// pinnedFrameworks returns the versions of torch and tensorflow pinned
// with == in requirements ("" when not pinned).
func pinnedFrameworks(requirements string) (torch, tf string) {
	for _, line := range strings.Split(requirements, "\n") {
		m := reqLineRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		switch normalizePackageName(m[1]) {
		case "torch":
			torch = m[2]
		case "tensorflow", "tensorflow-gpu":
			tf = m[2]
		}
	}
	return torch, tf
}

// frameworkCompatibility is Cog's warning for an explicit build.cuda that
// the pinned torch has no wheels for (torch bundles its own CUDA, so this
// is not fatal).
func frameworkCompatibility(cfg *Config, requirements string) []Warning {
	torch, tf := pinnedFrameworks(requirements)
	if torch == "" || tf != "" || cfg.Build.CUDA == "" || cfg.Source["build.cuda"].Line == 0 {
		return nil
	}
	cudas := torchCUDAs[minorOf(torch)]
	if len(cudas) == 0 || contains(cudas, cfg.Build.CUDA) {
		return nil
	}
	return []Warning{{Pos: cfg.Source["build.cuda"], Path: "build.cuda",
		Message: "Cog doesn't know if CUDA " + cfg.Build.CUDA + " is compatible with PyTorch " + torch +
			". This might cause CUDA problems. Try " + cudas[len(cudas)-1] + " instead?"}}
}

// tensorflowCUDAMismatch is Cog's error for an explicit build.cuda of
// another major version than the one the pinned TensorFlow was built with.
func tensorflowCUDAMismatch(cfg *Config, requirements string) error {
	_, tf := pinnedFrameworks(requirements)
	if tf == "" || cfg.Build.CUDA == "" || cfg.Source["build.cuda"].Line == 0 {
		return nil
	}
	want, ok := tfCUDA[minorOf(tf)]
	if !ok {
		return nil
	}
	major, _, _ := strings.Cut(want[0], ".")
	if strings.HasPrefix(cfg.Build.CUDA, major) {
		return nil
	}
	return &Error{Pos: cfg.Source["build.cuda"], Path: "build.cuda",
		Msg: "TensorFlow " + tf + " is incompatible with CUDA " + cfg.Build.CUDA + ": TensorFlow " + tf + " requires CUDA " + want[0]}
}
