package config

import (
	"path"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var buildKeys = []string{
	"python_version", "gpu", "cuda", "cudnn", "python_requirements", "python_packages",
	"system_packages", "run", "pre_install", "sdk_version",
}

// MinPythonMinor is the lowest Python 3 minor version Cog's runtime supports;
// MinPythonMinorConcurrency is the lowest that allows concurrency.max > 1.
// MaxPythonMinor is the newest Python 3 minor version there is a
// python:3.X-slim base image and a cog runtime for.
const (
	MinPythonMinor            = 10
	MaxPythonMinor            = 13
	MinPythonMinorConcurrency = 11
	MinCUDAMajor              = 11
	MinSDKVersion             = "0.16.0"
)

func (w *walker) parseBuild(f field) *Build {
	m, ok := w.mapping(f.val, f.path, buildKeys...)
	if !ok {
		return nil
	}
	b := &Build{}
	if pv, ok := m["python_version"]; ok && !isNull(pv.val) {
		b.PythonVersion = w.parsePythonVersion(pv)
	} else {
		w.fail(w.pos(f.key), joinPath(f.path, "python_version"), "is required when build is set", "",
			"add python_version: \"3.11\" (any version from 3.10) under build")
	}
	if g, ok := m["gpu"]; ok && !isNull(g.val) {
		b.GPU, _ = w.boolean(g)
	}
	w.parseCUDA(b, m)
	w.parseRequirements(b, m)
	if sp, ok := m["system_packages"]; ok {
		b.SystemPackages = w.parseSystemPackages(sp)
	}
	if r, ok := m["run"]; ok {
		b.Run = w.parseRunCommands(r)
	}
	if pi, ok := m["pre_install"]; ok && !isNull(pi.val) {
		w.warn(w.pos(pi.key), pi.path, `deprecated field "build.pre_install": use "build.run" instead; move these commands to build.run`)
		b.PreInstall = w.parseCommandStrings(pi)
	}
	if sv, ok := m["sdk_version"]; ok && !isNull(sv.val) {
		b.SDKVersion = w.parseSDKVersion(sv)
	}
	return b
}

// SupportedPythons lists the python_version values a build accepts.
func SupportedPythons() []string {
	var out []string
	for m := MinPythonMinor; m <= MaxPythonMinor; m++ {
		out = append(out, "3."+strconv.Itoa(m))
	}
	return out
}

var pythonVersionRE = regexp.MustCompile(`^3\.(\d+)(\.\d+)?$`)

// parsePythonVersion accepts "3.X" or "3.X.Y" written as a string or a
// number. YAML reads an unquoted 3.10 as the float 3.1; Cog takes the text
// as written, and so do we (node.Value is the source text), with a warning
// so the user quotes it before another tool reads it as 3.1.
func (w *walker) parsePythonVersion(f field) string {
	n := resolve(f.val)
	s, ok := w.str(f)
	if !ok {
		return ""
	}
	m := pythonVersionRE.FindStringSubmatch(s)
	if m == nil {
		w.fail(w.valuePos(f), f.path, "is not a Python version", quote(s), "write it as \"3.X\", e.g. \"3.11\"")
		return ""
	}
	minor, err := strconv.Atoi(m[1])
	if err != nil || minor < MinPythonMinor {
		// Cog's wording first (its tests match it), then what to do.
		hint := "use \"3.10\" or newer"
		if s == "3.1" && n.ShortTag() == "!!float" {
			hint = "if you meant 3.10, quote it: \"3.10\" (YAML reads 3.10 as the number 3.1)"
		}
		w.errs = append(w.errs, &Error{Pos: w.valuePos(f), Path: f.path, Msg: "invalid build.python_version " + strconv.Quote(s) +
			": minimum supported Python version is 3." + strconv.Itoa(MinPythonMinor) + "; " + hint})
		return ""
	}
	if minor > MaxPythonMinor {
		w.errs = append(w.errs, &Error{Pos: w.valuePos(f), Path: f.path, Msg: "invalid build.python_version " + strconv.Quote(s) +
			": unsupported Python version; supported: " + strings.Join(SupportedPythons(), ", ")})
		return ""
	}
	if n.ShortTag() == "!!float" {
		w.warn(w.valuePos(f), f.path, "python_version is written as a number ("+s+"); quote it (\""+s+"\") so YAML tools do not read 3.10 as 3.1")
	}
	if m[2] != "" {
		w.warn(w.valuePos(f), f.path, "the patch version is ignored: using "+"3."+m[1]+" (the base image carries the latest patch release)")
	}
	return "3." + m[1]
}

// pythonMinor returns X of "3.X".
func pythonMinor(v string) (int, bool) {
	m := pythonVersionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

var cudaRE = regexp.MustCompile(`^(\d+)\.(\d+)(\.\d+)?$`)

func (w *walker) parseCUDA(b *Build, m map[string]field) {
	cf, hasCUDA := m["cuda"]
	hasCUDA = hasCUDA && !isNull(cf.val)
	df, hasCuDNN := m["cudnn"]
	hasCuDNN = hasCuDNN && !isNull(df.val)
	if hasCUDA {
		s, ok := w.str(cf)
		if !ok {
			return
		}
		mm := cudaRE.FindStringSubmatch(s)
		major, _ := strconv.Atoi(safeIndex(mm, 1))
		switch {
		case mm == nil:
			w.fail(w.valuePos(cf), cf.path, "is not a CUDA version", quote(s), "write it as \"major.minor\", e.g. \"12.1\"")
			return
		case major < MinCUDAMajor:
			w.errs = append(w.errs, &Error{Pos: w.valuePos(cf), Path: cf.path, Msg: "invalid build.cuda " + strconv.Quote(s) +
				": minimum supported CUDA version is " + strconv.Itoa(MinCUDAMajor) + "; supported: " + strings.Join(SupportedCUDAs(), ", ")})
			return
		}
		b.CUDA = mm[1] + "." + mm[2]
		if _, known := cudaImages[b.CUDA]; !known {
			w.fail(w.valuePos(cf), cf.path, "no CUDA base image exists for this version", quote(s), "supported: "+strings.Join(SupportedCUDAs(), ", "))
			b.CUDA = ""
			return
		}
	}
	if hasCuDNN {
		s, ok := w.str(df)
		if !ok {
			return
		}
		// "8", "8.9" and "8.9.7" all name cuDNN 8; base images carry a major.
		major, _, _ := strings.Cut(s, ".")
		if _, err := strconv.Atoi(major); err != nil {
			w.fail(w.valuePos(df), df.path, "is not a cuDNN version", quote(s), "write the major version, e.g. \"8\" or \"9\"")
			return
		}
		b.CuDNN = major
		if b.CUDA != "" && !contains(CompatibleCuDNNs(b.CUDA), b.CuDNN) {
			// Cog's wording (CompatibilityError), then what to do.
			w.errs = append(w.errs, &Error{Pos: w.valuePos(df), Path: df.path, Msg: "CUDA " + b.CUDA + " is incompatible with CuDNN " + s +
				": compatible CuDNN versions are: " + strings.Join(CompatibleCuDNNs(b.CUDA), ", ") + "; set cudnn to one of them or leave it out"})
		}
	}
	if (hasCUDA || hasCuDNN) && !b.GPU {
		key := cf.key
		if !hasCUDA {
			key = df.key
		}
		w.warn(w.pos(key), "build", "cuda and cudnn have no effect without gpu: true")
	}
}

func safeIndex(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

func (w *walker) parseRequirements(b *Build, m map[string]field) {
	rf, hasReq := m["python_requirements"]
	hasReq = hasReq && !isNull(rf.val)
	pf, hasPkgs := m["python_packages"]
	hasPkgs = hasPkgs && !isNull(pf.val)
	if hasReq && hasPkgs {
		w.fail(w.pos(pf.key), pf.path, "python_packages and python_requirements are both set", "",
			"keep python_requirements and move the packages into that file")
	}
	if hasReq {
		if s, ok := w.str(rf); ok {
			if !isProjectRelative(s) {
				w.fail(w.valuePos(rf), rf.path, "must be a file inside the project", quote(s),
					"use a path relative to the directory holding cog.yaml, e.g. requirements.txt")
			} else {
				b.PythonRequirements = cleanRel(s)
			}
		}
	}
	if hasPkgs {
		w.warn(w.pos(pf.key), pf.path, `deprecated field "build.python_packages": use "build.python_requirements" instead; list the packages in a requirements.txt and set python_requirements: requirements.txt`)
		for i, s := range w.strs(pf) {
			if strings.TrimSpace(s) == "" || strings.ContainsAny(s, "\n\r") {
				w.fail(w.src[indexPath(pf.path, i)], indexPath(pf.path, i), "must be one requirement on one line", quote(s), "e.g. numpy==2.1.0")
				continue
			}
			b.PythonPackages = append(b.PythonPackages, s)
		}
	}
}

var aptNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9+.\-:=~_*]*$`)

// parseSystemPackages checks apt package names. The check is loose on
// purpose (versions "pkg=1.2" and architectures "pkg:arm64" are fine) but
// refuses what would change the apt command itself: spaces, options ("-y")
// and shell characters.
func (w *walker) parseSystemPackages(f field) []string {
	items, _ := w.list(f)
	var out []string
	for _, it := range items {
		s, ok := w.str(it)
		if !ok {
			continue
		}
		if !aptNameRE.MatchString(s) {
			w.fail(w.valuePos(it), it.path, "is not an apt package name", quote(s),
				"write one package per item, e.g. ffmpeg or libgl1 (no spaces, options or shell syntax)")
			continue
		}
		out = append(out, s)
	}
	return out
}

var runItemKeys = []string{"command", "mounts"}
var mountKeys = []string{"type", "id", "target"}

func (w *walker) parseRunCommands(f field) []RunCommand {
	items, _ := w.list(f)
	var out []RunCommand
	for _, it := range items {
		n := resolve(it.val)
		if n.Kind == yaml.MappingNode {
			if rc, ok := w.parseRunMapping(it); ok {
				out = append(out, rc)
			}
			continue
		}
		if cmd, ok := w.command(it); ok {
			out = append(out, RunCommand{Command: cmd})
		}
	}
	return out
}

func (w *walker) parseRunMapping(it field) (RunCommand, bool) {
	m, ok := w.mapping(it.val, it.path, runItemKeys...)
	if !ok {
		return RunCommand{}, false
	}
	cf, has := m["command"]
	if !has || isNull(cf.val) {
		w.fail(w.pos(it.val), joinPath(it.path, "command"), "is required", "", "give the shell command to run")
		return RunCommand{}, false
	}
	cmd, ok := w.command(cf)
	if !ok {
		return RunCommand{}, false
	}
	rc := RunCommand{Command: cmd}
	if mf, has := m["mounts"]; has {
		mounts, _ := w.list(mf)
		for _, mi := range mounts {
			if mt, ok := w.parseMount(mi); ok {
				rc.Mounts = append(rc.Mounts, mt)
			}
		}
	}
	return rc, true
}

func (w *walker) parseMount(f field) (Mount, bool) {
	m, ok := w.mapping(f.val, f.path, mountKeys...)
	if !ok {
		return Mount{}, false
	}
	var mt Mount
	good := true
	get := func(key string) (string, field, bool) {
		kf, has := m[key]
		if !has || isNull(kf.val) {
			return "", kf, false
		}
		s, ok := w.str(kf)
		return s, kf, ok
	}
	if s, tf, ok := get("type"); !ok || s != "secret" {
		pos := w.pos(f.val)
		if tf.val != nil {
			pos = w.valuePos(tf)
		}
		got := ""
		if ok {
			got = quote(s)
		}
		w.fail(pos, joinPath(f.path, "type"), "must be secret", got, "only secret mounts exist: type: secret")
		good = false
	} else {
		mt.Type = s
	}
	if s, _, ok := get("id"); !ok || strings.TrimSpace(s) == "" {
		w.fail(w.pos(f.val), joinPath(f.path, "id"), "is required", "", "name the secret, the id given to --secret id=...")
		good = false
	} else {
		mt.ID = s
	}
	if s, tf, ok := get("target"); ok {
		if !strings.HasPrefix(s, "/") {
			w.fail(w.valuePos(tf), tf.path, "must be an absolute path", quote(s), "e.g. /run/secrets/token")
			good = false
		}
		mt.Target = s
	}
	return mt, good
}

// command reads one shell command. Surrounding blank space is dropped so a
// folded block (">") works; a newline inside a command is an error because
// Cog runs each item as one RUN line and a newline would silently split it.
func (w *walker) command(f field) (string, bool) {
	s, ok := w.str(f)
	if !ok {
		return "", false
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		w.fail(w.valuePos(f), f.path, "is empty", "", "give a shell command or remove the item")
		return "", false
	case strings.ContainsAny(s, "\n\r"):
		w.fail(w.valuePos(f), f.path, "a command must be on one line", quote(s),
			"split it into several run items or join the lines with &&")
		return "", false
	}
	return s, true
}

func (w *walker) parseCommandStrings(f field) []string {
	items, _ := w.list(f)
	var out []string
	for _, it := range items {
		if s, ok := w.command(it); ok {
			out = append(out, s)
		}
	}
	return out
}

func (w *walker) parseSDKVersion(f field) string {
	s, ok := w.str(f)
	if !ok {
		return ""
	}
	v, err := parsePEP440(s)
	if err != nil {
		w.fail(w.valuePos(f), f.path, "is not a PEP 440 version", quote(s), "write a version of the cog package such as \"0.16.8\"")
		return ""
	}
	min, _ := parsePEP440(MinSDKVersion)
	if v.compare(min) < 0 {
		w.fail(w.valuePos(f), f.path, "cog "+MinSDKVersion+" or newer is required", quote(s), "use "+MinSDKVersion+" or newer, or leave sdk_version out for the default")
		return ""
	}
	return s
}

// cleanRel cleans a project-relative path ("./a//b" -> "a/b").
func cleanRel(p string) string {
	return strings.TrimPrefix(path.Clean(p), "./")
}
