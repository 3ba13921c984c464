package config

import (
	"regexp"
	"strings"
)

// Cog's reading of a requirement line (pkg/requirements): the name as
// written, extras included, and every version it names (a specifier or a
// direct reference).
var (
	reqNameRE     = regexp.MustCompile(`^([a-zA-Z0-9_\-\.]+(?:\[[^\]]+\])?)`)
	reqVersionRE  = regexp.MustCompile(`[<>=!~]=?\s*([^\s,;|]+)`)
	reqDirectRefR = regexp.MustCompile(`@\s*([^\s]+)`)
)

// CheckTorchPinned applies Cog's rule that a GPU build needs a versioned
// torch requirement (the version chooses the CUDA): `gpu: true` with a
// bare `torch` line fails with Cog's message at that line. requirementsFile
// and requirements are build.python_requirements' name and content (empty
// when the packages are listed under the deprecated build.python_packages).
func CheckTorchPinned(cfg *Config, requirementsFile string, requirements []byte) error {
	if cfg == nil || cfg.Build == nil || !cfg.Build.GPU {
		return nil
	}
	const msg = "torch version must be specified when using CUDA; pin it (e.g. torch==2.7.1), which also picks the CUDA version"
	if cfg.Build.PythonRequirements != "" {
		for i, line := range strings.Split(strings.ReplaceAll(string(requirements), "\r\n", "\n"), "\n") {
			if unpinnedTorch(line) {
				return &Error{Pos: Position{File: requirementsFile, Line: i + 1, Column: 1}, Msg: msg}
			}
		}
		return nil
	}
	for i, line := range cfg.Build.PythonPackages {
		if unpinnedTorch(line) {
			key := indexPath("build.python_packages", i)
			return &Error{Pos: cfg.Source[key], Path: key, Msg: msg}
		}
	}
	return nil
}

func unpinnedTorch(line string) bool {
	line = strings.TrimSpace(line)
	if i := strings.Index(line, " #"); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "-") {
		return false
	}
	m := reqNameRE.FindStringSubmatch(line)
	if m == nil || m[1] != "torch" {
		return false
	}
	return !reqVersionRE.MatchString(line) && !reqDirectRefR.MatchString(line)
}

// MinStaticSchemaSDKVersion is the oldest cog package whose runtime reads the
// statically computed schema (Cog refuses older ones the same way).
const MinStaticSchemaSDKVersion = "0.17.0"

// CheckStaticSchemaSDK refuses a build.sdk_version too old for a schema
// computed from the source, with Cog's message. It applies when cog.yaml
// names a predictor or trainer.
func CheckStaticSchemaSDK(cfg *Config) error {
	if cfg == nil || cfg.Build == nil || cfg.Build.SDKVersion == "" || cfg.Run == "" && cfg.Train == "" {
		return nil
	}
	v, err := parsePEP440(cfg.Build.SDKVersion)
	if err != nil {
		return nil
	}
	min, _ := parsePEP440(MinStaticSchemaSDKVersion)
	if v.compare(min) >= 0 {
		return nil
	}
	return &Error{Pos: cfg.Source["build.sdk_version"], Path: "build.sdk_version",
		Msg: "SDK version " + cfg.Build.SDKVersion + " is not supported by static schema generation; use " + MinStaticSchemaSDKVersion + " or newer"}
}
