package llb

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	bkllb "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var update = flag.Bool("update", false, "rewrite golden files")

const fixtureSchema = `{"openapi":"3.0.2"}`

// fixtureOptions is options.json of a fixture: test inputs that are not in
// cog.yaml.
type fixtureOptions struct {
	Format        string            `json:"format"`
	Platform      string            `json:"platform"`
	Version       string            `json:"version"`
	Revision      string            `json:"revision"`
	SourceVersion string            `json:"sourceVersion"`
	SetDigests    map[string]string `json:"setDigests"`
}

// fixture is a cog project on disk turned into Build's inputs the way the
// frontend does it (tests are the I/O edge here).
type fixture struct {
	dir  string
	cfg  *config.Config
	opts Options
}

func loadFixture(t testing.TB, dir string) *fixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "cog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Parse("cog.yaml", data)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	var fo fixtureOptions
	if dt, err := os.ReadFile(filepath.Join(dir, "options.json")); err == nil {
		if err := json.Unmarshal(dt, &fo); err != nil {
			t.Fatalf("%s/options.json: %v", dir, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	p := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	if fo.Platform != "" {
		if p, err = platforms.Parse(fo.Platform); err != nil {
			t.Fatal(err)
		}
	}
	opts := Options{
		Platform: p,
		// A fixed unique ID: BuildKit otherwise draws a random one per
		// local source (dockerui derives it from the session).
		Context:        bkllb.Local("context", bkllb.LocalUniqueID("test")),
		ConfigFilename: "cog.yaml",
		ConfigData:     data,
		Format:         fo.Format,
		Version:        fo.Version,
		Revision:       fo.Revision,
		SourceVersion:  fo.SourceVersion,
		MetaResolver:   &staticResolver{},
	}
	if cfg.Run != "" || cfg.Train != "" {
		// A stand-in: llb writes the schema it is given, never reads it.
		opts.OpenAPISchema = []byte(fixtureSchema)
	}
	if cfg.Build != nil && cfg.Build.PythonRequirements != "" {
		if opts.Requirements, err = os.ReadFile(filepath.Join(dir, cfg.Build.PythonRequirements)); err != nil {
			t.Fatal(err)
		}
	}
	var lock *config.Lock
	if dt, err := os.ReadFile(filepath.Join(dir, "weights.lock")); err == nil {
		if lock, err = config.ParseLock("weights.lock", dt); err != nil {
			t.Fatal(err)
		}
	} else if len(fo.SetDigests) > 0 {
		lock = &config.Lock{Version: 1}
		for _, w := range cfg.Weights {
			lock.Weights = append(lock.Weights, config.LockWeight{Name: w.Name, Target: w.Target, SetDigest: fo.SetDigests[w.Name]})
		}
	}
	if opts.Weights, err = WeightRefs(cfg, lock); err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, cfg: cfg, opts: opts}
}

func (f *fixture) build(t *testing.T) *Result {
	t.Helper()
	res, err := Build(context.Background(), f.cfg, f.opts)
	if err != nil {
		t.Fatalf("%s: Build: %v", f.dir, err)
	}
	return res
}

// staticResolver answers image config lookups with a fixed, recorded-style
// config per image family, as a registry would, so that golden files show
// the pinned references and the inherited environment. It is an input of
// the pure conversion, not a stand-in for BuildKit.
type staticResolver struct {
	calls []string
	err   error
}

func (r *staticResolver) ResolveImageConfig(ctx context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	p := ""
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		p = platforms.Format(*opt.ImageOpt.Platform)
	}
	r.calls = append(r.calls, ref+" "+p)
	if r.err != nil {
		return "", "", nil, r.err
	}
	img := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}}
	img.Config.Env = []string{
		"PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
	}
	if strings.HasPrefix(ref, "docker.io/nvidia/cuda:") {
		img.Config.Env = append(img.Config.Env,
			"LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64",
			"NVIDIA_VISIBLE_DEVICES=all")
		img.Config.Labels = map[string]string{"maintainer": "NVIDIA CORPORATION <cudatools@nvidia.com>"}
	}
	dt, err := json.Marshal(img)
	if err != nil {
		return "", "", nil, err
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", "", nil, err
	}
	return named.String(), digest.FromString(ref + " " + p), dt, nil
}

// fixtureDirs lists the testdata fixtures and the examples with the
// directory their golden files live in.
func fixtureDirs(t *testing.T) map[string]string {
	t.Helper()
	dirs := map[string]string{}
	ents, err := os.ReadDir("../testdata/llb")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() && !isExampleGolden(e.Name()) {
			dirs[filepath.Join("../testdata/llb", e.Name())] = filepath.Join("../testdata/llb", e.Name())
		}
	}
	for _, ex := range []string{"hello", "cpu-weights", "gpu"} {
		dirs[filepath.Join("../examples", ex)] = filepath.Join("../testdata/llb", "examples-"+ex)
	}
	return dirs
}

func isExampleGolden(name string) bool {
	return len(name) > len("examples-") && name[:len("examples-")] == "examples-"
}
