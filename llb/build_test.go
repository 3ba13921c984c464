package llb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/wire"
	bkllb "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/proto"
)

var amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

// TestGolden pins the LLB and image config of every fixture and example.
// Run with -update after an intended change and review the diff.
func TestGolden(t *testing.T) {
	for dir, golden := range fixtureDirs(t) {
		t.Run(filepath.Base(golden), func(t *testing.T) {
			f := loadFixture(t, dir)
			res := f.build(t)
			got := dumpState(t, res.State, f.opts.Platform)
			img, err := json.MarshalIndent(res.Image, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join(golden, "llb.golden.json"), got)
			compareGolden(t, filepath.Join(golden, "image.golden.json"), append(img, '\n'))
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./llb -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the conversion's output; if the change is intended, rerun with -update and review the diff.\n%s", path, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }

func digestOf(s string) digest.Digest { return digest.FromString(s) }

// determinismRuns: Go randomises map iteration order on every range, so a
// map-order leak shows up as differing bytes in almost every pair of runs
// with two or more keys; 25 independent conversions make the chance of
// missing such a leak smaller than 2^-24 while keeping the test fast.
const determinismRuns = 25

// TestDeterministic converts every fixture many times from scratch and
// requires identical marshalled definitions (ops, metadata and source map,
// marshalled deterministically) and image configs.
func TestDeterministic(t *testing.T) {
	for dir, golden := range fixtureDirs(t) {
		t.Run(filepath.Base(golden), func(t *testing.T) {
			var first, firstImg []byte
			for i := 0; i < determinismRuns; i++ {
				f := loadFixture(t, dir)
				res := f.build(t)
				def, err := res.State.Marshal(context.Background(), bkllb.Platform(f.opts.Platform))
				if err != nil {
					t.Fatal(err)
				}
				dt, err := proto.MarshalOptions{Deterministic: true}.Marshal(def.ToPB())
				if err != nil {
					t.Fatal(err)
				}
				img, err := json.Marshal(res.Image)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first, firstImg = dt, img
					continue
				}
				if !bytes.Equal(dt, first) {
					t.Fatalf("run %d marshalled different LLB bytes than run 0", i)
				}
				if !bytes.Equal(img, firstImg) {
					t.Fatalf("run %d produced a different image config than run 0", i)
				}
			}
		})
	}
}

func TestImageConfig(t *testing.T) {
	f := loadFixture(t, "../testdata/llb/cpu-full")
	res := f.build(t)
	c := res.Image.Config
	if !slices.Equal(c.Entrypoint, []string{"/sbin/tini", "--"}) {
		t.Errorf("entrypoint = %q", c.Entrypoint)
	}
	if !slices.Equal(c.Cmd, []string{"python", "-m", "cog.server.http"}) {
		t.Errorf("cmd = %q", c.Cmd)
	}
	if c.WorkingDir != "/src" {
		t.Errorf("workdir = %q", c.WorkingDir)
	}
	if _, ok := c.ExposedPorts["5000/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("exposed ports = %v", c.ExposedPorts)
	}
	wantEnv := []string{
		"PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
		"DEBIAN_FRONTEND=noninteractive",
		"PYTHONUNBUFFERED=1",
		"LD_LIBRARY_PATH=:/usr/lib/x86_64-linux-gnu:/usr/local/nvidia/lib64:/usr/local/nvidia/bin",
		"NVIDIA_DRIVER_CAPABILITIES=all",
		"ALPHA=first one", // user environment, sorted by key
		"ZED=last",
		"UV_SYSTEM_PYTHON=true",
		"COG_PREDICT_TYPE_STUB=predict.py:Predictor",
		"COG_TRAIN_TYPE_STUB=train.py:train",
		"COG_MAX_CONCURRENCY=4",
	}
	if !slices.Equal(c.Env, wantEnv) {
		t.Errorf("env =\n%q\nwant\n%q", c.Env, wantEnv)
	}
	label, err := f.cfg.LabelJSON()
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{
		wire.LabelConfig:        string(label),
		wire.LabelHasInit:       "true",
		wire.LabelVersion:       "0.23.0", // the fixture's sdk_version; the caller replaces it with pip freeze's
		wire.LabelOpenAPISchema: fixtureSchema,
		wire.LabelOCIRevision:   "0123456789abcdef0123456789abcdef01234567",
		wire.LabelOCIVersion:    "v1.2.3",
		// This project's version, apart from run.cog.version.
		wire.LabelFrontendVersion: "0.1.0-test",
	}
	for k, v := range wantLabels {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if len(c.Labels) != len(wantLabels) {
		t.Errorf("labels = %v, want exactly %v", c.Labels, wantLabels)
	}
	if res.Image.OS != "linux" || res.Image.Architecture != "amd64" {
		t.Errorf("platform = %s/%s", res.Image.OS, res.Image.Architecture)
	}
	if res.BaseImage != "docker.io/library/python:3.12-slim@"+string(digestOf("docker.io/library/python:3.12-slim linux/amd64")) {
		t.Errorf("base image = %q, want python:3.12-slim pinned to the resolved digest", res.BaseImage)
	}
	// Only pip freeze is read back after the build; the schema is known
	// before it.
	if len(res.Facts) != 1 || res.Facts[wire.LabelPipFreeze] != wire.PipFreezePath {
		t.Errorf("facts = %v, want only %s: %s", res.Facts, wire.LabelPipFreeze, wire.PipFreezePath)
	}
}

// TestStepOrder pins the order of docs/frontend.md "The image".
func TestStepOrder(t *testing.T) {
	res := loadFixture(t, "../testdata/llb/cpu-full").build(t)
	var got []string
	for _, o := range execs(t, res.State) {
		got = append(got, o.Name)
	}
	want := []string{
		"[cog] install curl and tini",
		"[cog] install system packages",
		"[cog] install Python requirements",
		"[cog] install cog 0.23.0",
		"[cog] build.run[0]: echo building",
		"[cog] build.run[1]: cat /run/secrets/token > /dev/null",
		"[cog] build.pre_install[0]: echo pre",
		"[cog] pip freeze",
	}
	if !slices.Equal(got, want) {
		t.Errorf("exec steps =\n%q\nwant\n%q", got, want)
	}
}

func TestRequirementsFilteredAndTorchIndex(t *testing.T) {
	res := loadFixture(t, "../testdata/llb/cpu-full").build(t)
	ex := findExec(t, res.State, "[cog] install Python requirements")
	cmd := ex.Meta.Args[2]
	if cmd != "uv pip install -r /tmp/cog-requirements/requirements.txt --extra-index-url https://download.pytorch.org/whl/cpu" {
		t.Errorf("install command = %q", cmd)
	}
	if got := mkfile(t, res.State, "/requirements.txt"); got != "numpy==2.2.6\ntorch==2.5.1\n" {
		t.Errorf("requirements given to uv = %q", got)
	}
	var dropped []string
	for _, w := range res.Warnings {
		if w.Path == "build.python_requirements" {
			dropped = append(dropped, w.Message)
			if w.Pos.Line != 6 {
				t.Errorf("warning position = %v, want cog.yaml line 6", w.Pos)
			}
		}
	}
	if len(dropped) != 2 || !strings.Contains(dropped[0], `line 3: dropped "cog==0.16.0"`) || !strings.Contains(dropped[1], `line 4: dropped "coglet==0.23.1"`) {
		t.Errorf("warnings = %q", dropped)
	}
}

func TestGPU(t *testing.T) {
	f := loadFixture(t, "../testdata/llb/gpu")
	res := f.build(t)
	if !strings.HasPrefix(res.BaseImage, "docker.io/nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04@sha256:") {
		t.Errorf("base = %q", res.BaseImage)
	}
	dump := string(dumpState(t, res.State, amd64))
	if !strings.Contains(dump, `"identifier": "docker-image://docker.io/nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04@sha256:`) {
		t.Error("base image source is not the pinned nvidia/cuda image")
	}
	// torch 2.4 publishes wheels up to CUDA 12.4; config picks the newest.
	var cudaWarn bool
	for _, w := range res.Warnings {
		cudaWarn = cudaWarn || (w.Path == "build.cuda" && strings.Contains(w.Message, "12.4"))
	}
	if !cudaWarn {
		t.Errorf("no warning saying CUDA 12.4 was chosen: %v", res.Warnings)
	}
	if f.cfg.Build.CUDA != "" {
		t.Error("Build changed the caller's config")
	}
	if !strings.Contains(res.Image.Config.Labels[wire.LabelConfig], `"cuda":"12.4","cudnn":"9"`) {
		t.Errorf("run.cog.config does not record the resolved CUDA: %s", res.Image.Config.Labels[wire.LabelConfig])
	}
	py := findExec(t, res.State, "[cog] install Python 3.11")
	if !strings.HasPrefix(py.Meta.Args[2], "uv python install 3.11") {
		t.Errorf("python install = %q", py.Meta.Args[2])
	}
	req := findExec(t, res.State, "[cog] install Python requirements")
	if !strings.HasSuffix(req.Meta.Args[2], "--extra-index-url https://download.pytorch.org/whl/cu124") {
		t.Errorf("requirements install = %q", req.Meta.Args[2])
	}
	if v, _ := envList(res.Image.Config.Env).get("LD_LIBRARY_PATH"); v != "/usr/local/nvidia/lib:/usr/local/nvidia/lib64:/usr/lib/x86_64-linux-gnu:/usr/local/nvidia/lib64:/usr/local/nvidia/bin" {
		t.Errorf("LD_LIBRARY_PATH does not extend the base image's: %q", v)
	}
}

func TestCacheAndSecretMounts(t *testing.T) {
	res := loadFixture(t, "../testdata/llb/cpu-full").build(t)
	apt := findExec(t, res.State, "[cog] install system packages")
	var aptCaches []string
	for _, m := range apt.Mounts {
		if m.MountType == pb.MountType_CACHE {
			if m.CacheOpt.Sharing != pb.CacheSharingOpt_LOCKED {
				t.Errorf("apt cache %s is not locked", m.Dest)
			}
			aptCaches = append(aptCaches, m.Dest)
		}
	}
	if !slices.Equal(aptCaches, []string{"/var/cache/apt", "/var/lib/apt"}) {
		t.Errorf("apt cache mounts = %q", aptCaches)
	}
	if got := apt.Meta.Args[2]; !strings.HasSuffix(got, "--no-install-recommends ffmpeg libsm6") {
		t.Errorf("apt command = %q", got)
	}
	req := findExec(t, res.State, "[cog] install Python requirements")
	var uvCache bool
	for _, m := range req.Mounts {
		uvCache = uvCache || (m.MountType == pb.MountType_CACHE && m.Dest == "/root/.cache/uv")
	}
	if !uvCache {
		t.Error("requirements install has no uv cache mount")
	}
	secret := findExec(t, res.State, "[cog] build.run[1]")
	var found bool
	for _, m := range secret.Mounts {
		if m.MountType == pb.MountType_SECRET {
			found = m.SecretOpt.ID == "token" && m.Dest == "/run/secrets/token"
		}
	}
	if !found {
		t.Errorf("build.run[1] has no secret mount token at /run/secrets/token: %v", secret.Mounts)
	}
	// build.run sees no project files: only the root mount (and secrets).
	for _, m := range findExec(t, res.State, "[cog] build.run[0]").Mounts {
		if m.Dest != "/" {
			t.Errorf("build.run[0] has an extra mount at %s", m.Dest)
		}
	}
}

// TestCodeChangeReusesDependencies: with a different project the digests
// of every command stay the same (pip freeze runs before the project copy
// too); only the copy and the files after it change.
func TestCodeChangeReusesDependencies(t *testing.T) {
	f := loadFixture(t, "../testdata/llb/cpu-full")
	a := f.build(t)
	f.opts.Context = bkllb.Local("context", bkllb.LocalUniqueID("test"), bkllb.ExcludePatterns([]string{"changed"}))
	b := f.build(t)
	da, db := execs(t, a.State), execs(t, b.State)
	if len(da) != len(db) {
		t.Fatalf("step counts differ: %d vs %d", len(da), len(db))
	}
	for i := range da {
		if da[i].Digest != db[i].Digest {
			t.Errorf("step %q changed with the project", da[i].Name)
		}
	}
}

func TestProjectCopy(t *testing.T) {
	res := loadFixture(t, "../testdata/llb/weights-bundle").build(t)
	cp := copyAction(t, res.State, "[cog] copy project to /src")
	if cp.Src != "/" || cp.Dest != "/src/" || !cp.DirCopyContents {
		t.Errorf("copy = %s -> %s (contents only %v)", cp.Src, cp.Dest, cp.DirCopyContents)
	}
	want := []string{".cog", "weights/a", "weights/b", "weights/b-extra"}
	if !slices.Equal(cp.ExcludePatterns, want) {
		t.Errorf("excludes = %q, want %q", cp.ExcludePatterns, want)
	}
	if got := ContextExcludes(loadFixture(t, "../testdata/llb/weights-bundle").cfg, ""); !slices.Equal(got, want) {
		t.Errorf("ContextExcludes(bundle) = %q, want %q", got, want)
	}
	if got := ContextExcludes(loadFixture(t, "../testdata/llb/weights-bundle").cfg, wire.FormatStandalone); !slices.Equal(got, []string{".cog"}) {
		t.Errorf("ContextExcludes(standalone) = %q", got)
	}
}

func TestWeightsJSON(t *testing.T) {
	res := loadFixture(t, "../testdata/llb/weights-bundle").build(t)
	want := `{
  "weights": [
    {
      "name": "alpha",
      "target": "/src/weights/a",
      "setDigest": "sha256:1111111111111111111111111111111111111111111111111111111111111111"
    },
    {
      "name": "beta",
      "target": "/models/b",
      "setDigest": "sha256:2222222222222222222222222222222222222222222222222222222222222222"
    }
  ]
}
`
	if got := mkfile(t, res.State, "/weights.json"); got != want {
		t.Errorf("weights.json =\n%s\nwant\n%s", got, want)
	}
	dump := string(dumpState(t, res.State, amd64))
	if strings.Contains(dump, `"merge"`) || strings.Contains(dump, "[cog] weight ") {
		t.Error("bundle image copies weights in")
	}
}

func TestStandaloneWeights(t *testing.T) {
	f := loadFixture(t, "../testdata/llb/weights-standalone")
	res := f.build(t)
	if got := mkfileOrEmpty(t, res.State, "/weights.json"); got != "" {
		t.Errorf("standalone image has weights.json: %s", got)
	}
	var all []dumpOp
	if err := json.Unmarshal(dumpState(t, res.State, f.opts.Platform), &all); err != nil {
		t.Fatal(err)
	}
	var merge *pb.MergeOp
	var copies []*pb.FileActionCopy
	for _, o := range all {
		if m := o.Op.GetMerge(); m != nil {
			merge = m
		}
		if strings.HasPrefix(o.Name, "[cog] weight ") {
			for _, a := range o.Op.GetFile().Actions {
				copies = append(copies, a.GetCopy())
			}
		}
	}
	if merge == nil || len(merge.Inputs) != 3 {
		t.Fatalf("want one merge of the image and two weight layers, got %v", merge)
	}
	if len(copies) != 3 {
		t.Fatalf("want 3 weight copies (alpha, beta's two sources), got %d", len(copies))
	}
	a := copies[0]
	if a.Src != "/weights/a" || a.Dest != "/src/weights/a/" {
		t.Errorf("alpha copy %s -> %s", a.Src, a.Dest)
	}
	if !slices.Equal(a.IncludePatterns, []string{"**/*.safetensors", "**/*.safetensors/**", "**/config.json", "**/config.json/**"}) {
		t.Errorf("alpha includes = %q", a.IncludePatterns)
	}
	if !slices.Equal(a.ExcludePatterns, []string{"**/onnx", "**/onnx/**", "**/.cog", "**/.cog/**"}) {
		t.Errorf("alpha excludes = %q", a.ExcludePatterns)
	}
	if copies[2].Src != "/weights/b-extra" || !slices.Equal(copies[2].ExcludePatterns, []string{"tmp/*.bin", "tmp/*.bin/**", "**/.cog", "**/.cog/**"}) {
		t.Errorf("beta second source = %s excludes %q", copies[2].Src, copies[2].ExcludePatterns)
	}
	if res.Image.Architecture != "arm64" {
		t.Errorf("arch = %s", res.Image.Architecture)
	}
}

func TestSourceLocations(t *testing.T) {
	res := loadFixture(t, "../testdata/llb/cpu-full").build(t)
	var all []dumpOp
	if err := json.Unmarshal(dumpState(t, res.State, amd64), &all); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"[cog] build.run[0]: echo building": "cog.yaml:8:7",
		"[cog] install system packages":     "cog.yaml:3:3",
		"[cog] install cog 0.23.0":          "cog.yaml:16:3",
		"[cog] pip freeze":                  "cog.yaml:1:1",
	}
	for _, o := range all {
		if loc, ok := want[o.Name]; ok {
			if !slices.Equal(o.Locations, []string{loc}) {
				t.Errorf("%s: locations %q, want %s", o.Name, o.Locations, loc)
			}
			delete(want, o.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("steps not found: %v", want)
	}
	if res.SourceMap == nil || res.SourceMap.Filename != "cog.yaml" {
		t.Error("result has no cog.yaml source map")
	}
}

func TestResolverUsedPerPlatform(t *testing.T) {
	f := loadFixture(t, "../testdata/llb/minimal")
	r := &staticResolver{}
	f.opts.MetaResolver = r
	f.opts.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64"}
	res := f.build(t)
	if !slices.Equal(r.calls, []string{"docker.io/library/python:3.13-slim linux/arm64"}) {
		t.Errorf("resolver calls = %q", r.calls)
	}
	if res.Image.Architecture != "arm64" {
		t.Errorf("image architecture = %q", res.Image.Architecture)
	}
	// Without a resolver the tag is used unpinned and PATH defaults.
	f.opts.MetaResolver = nil
	res = f.build(t)
	if res.BaseImage != "python:3.13-slim" {
		t.Errorf("unresolved base = %q", res.BaseImage)
	}
	if v, _ := envList(res.Image.Config.Env).get("PATH"); v == "" {
		t.Error("no PATH without a resolver")
	}
	if res.Image.Config.Labels[wire.LabelOpenAPISchema] != fixtureSchema {
		t.Error("no schema label for a config with run:")
	}
}

func TestErrors(t *testing.T) {
	base := func() (*config.Config, Options) {
		f := loadFixture(t, "../testdata/llb/weights-bundle")
		return f.cfg, f.opts
	}
	cases := []struct {
		name   string
		mutate func(*config.Config, *Options)
		want   string
	}{
		{"unknown format", func(c *config.Config, o *Options) { o.Format = "zip" }, `unknown image format "zip"`},
		{"lock projection missing a weight", func(c *config.Config, o *Options) { o.Weights = o.Weights[:1] }, "cog.yaml:5:1: weights: cog.yaml declares 2 weights but the weights.lock projection has 1"},
		{"lock projection out of date", func(c *config.Config, o *Options) { o.Weights[1].Target = "/other" }, `cog.yaml:12:5: weights[1]: weight "beta" (target /models/b) does not match`},
		{"no set digest", func(c *config.Config, o *Options) { o.Weights[0].SetDigest = "" }, `weight "alpha" has no set digest`},
		{"requirements not passed", func(c *config.Config, o *Options) { c.Build.PythonRequirements = "req.txt" }, "the content of req.txt was not passed"},
		{"nested requirements", func(c *config.Config, o *Options) {
			c.Build.PythonRequirements = "req.txt"
			o.Requirements = []byte("numpy\n-r other.txt\n")
		}, `req.txt line 2: "-r other.txt" includes another file`},
		{"unsupported CUDA", func(c *config.Config, o *Options) { c.Build.GPU, c.Build.CUDA, c.Build.CuDNN = true, "10.2", "7" }, `build.cuda: no CUDA base image for CUDA "10.2"`},
		{"standalone remote weight", func(c *config.Config, o *Options) {
			o.Format = wire.FormatStandalone
			c.Weights[0].Sources[0].URI = "hf://org/repo"
			o.Weights[0].Sources = c.Weights[0].Sources
		}, `weights[0].source[0].uri: standalone images copy weights from the build context, but "hf://org/repo" is not a path inside the project`},
		{"non-secret mount", func(c *config.Config, o *Options) {
			c.Build.Run = []config.RunCommand{{Command: "true", Mounts: []config.Mount{{Type: "cache", ID: "x"}}}}
		}, `build.run[0].mounts[0].type: mount type "cache" is not supported`},
		{"resolver failure", func(c *config.Config, o *Options) { o.MetaResolver = &staticResolver{err: errors.New("registry down")} }, "resolving base image python:3.11-slim: registry down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, opts := base()
			tc.mutate(cfg, &opts)
			_, err := Build(context.Background(), cfg, opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := Build(context.Background(), nil, Options{}); err == nil {
		t.Error("nil config accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg, opts := base()
	if _, err := Build(ctx, cfg, opts); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}

func TestWeightRefsNeedsLock(t *testing.T) {
	cfg := loadFixture(t, "../testdata/llb/weights-bundle").cfg
	_, err := WeightRefs(cfg, &config.Lock{Version: 1})
	if err == nil || !strings.Contains(err.Error(), `weights[0]: weight "alpha" is not in weights.lock`) {
		t.Errorf("err = %v", err)
	}
}

func TestGitignoreToPatterns(t *testing.T) {
	cases := map[string][]string{
		"*.json":    {"**/*.json", "**/*.json/**"},
		"onnx/":     {"**/onnx", "**/onnx/**"},
		"/top.bin":  {"top.bin", "top.bin/**"},
		"sub/*.bin": {"sub/*.bin", "sub/*.bin/**"},
		"**/x":      {"**/x", "**/x/**"},
		"dir/**":    {"dir/**"},
	}
	for in, want := range cases {
		if got := gitignoreToPatterns([]string{in}); !slices.Equal(got, want) {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

func TestTorchIndexURL(t *testing.T) {
	cases := []struct {
		gpu  bool
		cuda string
		want string
	}{
		{false, "", "https://download.pytorch.org/whl/cpu"},
		{true, "11.8", "https://download.pytorch.org/whl/cu118"},
		{true, "12.2", "https://download.pytorch.org/whl/cu121"},
		{true, "12.4", "https://download.pytorch.org/whl/cu124"},
		{true, "12.9", "https://download.pytorch.org/whl/cu129"},
	}
	for _, c := range cases {
		if got := torchIndexURL(&config.Build{GPU: c.gpu}, c.cuda); got != c.want {
			t.Errorf("gpu=%v cuda=%s: %s, want %s", c.gpu, c.cuda, got, c.want)
		}
	}
}

// mkfile returns the content of the file Build generates at p (in any
// file op), failing when there is none.
func mkfile(t *testing.T, st bkllb.State, p string) string {
	t.Helper()
	s := mkfileOrEmpty(t, st, p)
	if s == "" {
		t.Fatalf("no generated file %s", p)
	}
	return s
}

func mkfileOrEmpty(t *testing.T, st bkllb.State, p string) string {
	t.Helper()
	def, err := st.Marshal(context.Background(), bkllb.Platform(amd64))
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range def.Def {
		var op pb.Op
		if err := proto.Unmarshal(dt, &op); err != nil {
			t.Fatal(err)
		}
		for _, a := range op.GetFile().GetActions() {
			if mk := a.GetMkfile(); mk != nil && mk.Path == p {
				return string(mk.Data)
			}
		}
	}
	return ""
}

func copyAction(t *testing.T, st bkllb.State, name string) *pb.FileActionCopy {
	t.Helper()
	var all []dumpOp
	if err := json.Unmarshal(dumpState(t, st, amd64), &all); err != nil {
		t.Fatal(err)
	}
	for _, o := range all {
		if o.Name == name {
			return o.Op.GetFile().Actions[0].GetCopy()
		}
	}
	t.Fatalf("no file op %q", name)
	return nil
}

// TestNamedContextReplacesImages: a named context (--build-context
// python:3.11-slim=...) replaces the base image, its config's environment
// carries into the steps, and the registry is not asked; uv's image can be
// replaced the same way.
func TestNamedContextReplacesImages(t *testing.T) {
	f := loadFixture(t, "../examples/hello")
	r := &staticResolver{}
	f.opts.MetaResolver = r
	var asked []string
	f.opts.NamedContext = func(ctx context.Context, ref string) (*bkllb.State, *dockerspec.DockerOCIImage, error) {
		asked = append(asked, ref)
		switch ref {
		case "python:3.11-slim":
			st := bkllb.Image("registry.example.com/corp/python:3.11-slim-ca")
			img := &dockerspec.DockerOCIImage{}
			img.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
			return &st, img, nil
		case UVImage:
			st := bkllb.Image("registry.example.com/corp/uv:0.9.26")
			return &st, nil, nil
		}
		return nil, nil, nil
	}
	res := f.build(t)
	if !slices.Equal(asked, []string{"python:3.11-slim", UVImage}) {
		t.Errorf("named contexts asked for %q", asked)
	}
	if len(r.calls) != 0 {
		t.Errorf("registry resolver called for a replaced base: %q", r.calls)
	}
	dump := string(dumpState(t, res.State, amd64))
	for _, id := range []string{"docker-image://registry.example.com/corp/python:3.11-slim-ca", "docker-image://registry.example.com/corp/uv:0.9.26"} {
		if !strings.Contains(dump, `"identifier": "`+id+`"`) {
			t.Errorf("LLB does not start from %s", id)
		}
	}
	if strings.Contains(dump, "docker.io/library/python") {
		t.Error("LLB still references the registry base image")
	}
	tini := findExec(t, res.State, "[cog] install curl and tini")
	if !slices.Contains(tini.Meta.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") {
		t.Errorf("steps do not see the named context's environment: %q", tini.Meta.Env)
	}
	f.opts.NamedContext = func(ctx context.Context, ref string) (*bkllb.State, *dockerspec.DockerOCIImage, error) {
		return nil, nil, errors.New("no such context")
	}
	if _, err := Build(context.Background(), f.cfg, f.opts); err == nil || !strings.Contains(err.Error(), "build context python:3.11-slim: no such context") {
		t.Errorf("err = %v", err)
	}
}

// TestPythonPackages: the deprecated python_packages list is installed the
// same way as a requirements file, with cog dropped and torch redirected.
func TestPythonPackages(t *testing.T) {
	data := []byte("build:\n  python_version: \"3.11\"\n  python_packages:\n    - numpy==2.2.6\n    - cog==0.16.0\n    - torchaudio==2.5.1\nrun: predict.py:Predictor\n")
	cfg, _, err := config.Parse("cog.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(context.Background(), cfg, Options{Platform: amd64, Context: bkllb.Local("context", bkllb.LocalUniqueID("test")), ConfigData: data})
	if err != nil {
		t.Fatal(err)
	}
	if got := mkfile(t, res.State, "/requirements.txt"); got != "numpy==2.2.6\ntorchaudio==2.5.1\n" {
		t.Errorf("requirements = %q", got)
	}
	if cmd := findExec(t, res.State, "[cog] install Python requirements").Meta.Args[2]; !strings.HasSuffix(cmd, "--extra-index-url https://download.pytorch.org/whl/cpu") {
		t.Errorf("install = %q", cmd)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].Path != "build.python_packages" || res.Warnings[0].Pos.Line != 3 {
		t.Errorf("warnings = %+v", res.Warnings)
	}
}

// TestNoRequirementsNoInstallStep: without requirements there is no
// install step, and an index line alone installs nothing either.
func TestNoRequirementsNoInstallStep(t *testing.T) {
	f := loadFixture(t, "../examples/hello")
	check := func(what string) {
		for _, o := range execs(t, f.build(t).State) {
			if o.Name == "[cog] install Python requirements" {
				t.Errorf("%s: install step without requirements", what)
			}
		}
	}
	check("no requirements")
	f.cfg.Build.PythonRequirements = "requirements.txt"
	f.opts.Requirements = []byte("# only an index\n--extra-index-url https://example.com/simple\ncog==0.23.1\n")
	check("index line and cog only")
}
