package llb

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/distribution/reference"
	bkllb "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// torchIndexes are the CUDA wheel indexes PyTorch publishes; a CUDA version
// without its own index uses the newest one of the same major below it
// (CUDA is forward compatible within a major).
var torchIndexes = []string{"11.7", "11.8", "12.1", "12.4", "12.6", "12.8", "12.9"}

const torchIndexBase = "https://download.pytorch.org/whl/"

// torchIndexURL returns the wheel index for torch on this build: CPU wheels
// without a GPU, else the matching CUDA index.
func torchIndexURL(b *config.Build, cuda string) string {
	if b == nil || !b.GPU {
		return torchIndexBase + "cpu"
	}
	major := strings.SplitN(cuda, ".", 2)[0]
	best := ""
	for _, v := range torchIndexes {
		if strings.SplitN(v, ".", 2)[0] == major && versionLE(v, cuda) {
			best = v
		}
	}
	if best == "" {
		return torchIndexBase + "cpu"
	}
	return torchIndexBase + "cu" + strings.ReplaceAll(best, ".", "")
}

// versionLE compares two "major.minor" strings numerically.
func versionLE(a, b string) bool {
	var am, an, bm, bn int
	fmt.Sscanf(a, "%d.%d", &am, &an)
	fmt.Sscanf(b, "%d.%d", &bm, &bn)
	return am < bm || (am == bm && an <= bn)
}

// defaultPython is the Python of a cog.yaml without a build section.
const defaultPython = "3.13"

// baseImage picks the base image reference: python:X.Y-slim for CPU, the
// nvidia/cuda devel image of config's CUDA/cuDNN table for GPU (Python is
// then installed by uv). cfg.Build.CUDA must be resolved already.
func baseImage(cfg *config.Config) (string, error) {
	b := cfg.Build
	if b == nil || !b.GPU {
		py := defaultPython
		if b != nil && b.PythonVersion != "" {
			py = b.PythonVersion
		}
		return "python:" + py + "-slim", nil
	}
	ref, err := config.CUDABaseImage(b.CUDA, b.CuDNN)
	if err != nil {
		return "", posErr(cfg, "build.cuda", "%v", err)
	}
	return ref, nil
}

// defaultPath is the PATH of python:*-slim, used when no resolver tells us
// the base image's real environment.
const defaultPath = "PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// resolveBase reads the base image config through the resolver, when there
// is one, and returns the reference to build from (pinned to the resolved
// digest, so the LLB names exactly what was inspected) and the config.
func resolveBase(ctx context.Context, ref string, opts *Options) (string, dockerspec.DockerOCIImage, error) {
	var img dockerspec.DockerOCIImage
	if opts.MetaResolver == nil {
		img.Config.Env = []string{defaultPath}
		img.OS, img.Architecture, img.Variant = opts.Platform.OS, opts.Platform.Architecture, opts.Platform.Variant
		return ref, img, nil
	}
	p := opts.Platform
	// Resolvers (BuildKit's gateway among them) want the normalised name:
	// "python:3.11-slim" is docker.io/library/python:3.11-slim.
	norm, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", img, fmt.Errorf("base image %s: %w", ref, err)
	}
	resolved, dgst, dt, err := opts.MetaResolver.ResolveImageConfig(ctx, norm.String(), sourceresolver.Opt{
		LogName:  "[cog] resolve base image " + ref,
		ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &p},
	})
	if err != nil {
		return "", img, fmt.Errorf("resolving base image %s: %w", ref, err)
	}
	if err := json.Unmarshal(dt, &img); err != nil {
		return "", img, fmt.Errorf("base image %s: invalid image config: %w", ref, err)
	}
	if dgst == "" {
		return resolved, img, nil
	}
	named, err := reference.ParseNormalizedNamed(resolved)
	if err != nil {
		return "", img, fmt.Errorf("base image %s: %w", resolved, err)
	}
	// Keep the tag next to the digest: BuildKit uses the digest, people
	// reading the LLB or the provenance see which tag it was.
	pinned, err := reference.WithDigest(reference.TagNameOnly(named), dgst)
	if err != nil {
		return "", img, fmt.Errorf("base image %s: %w", resolved, err)
	}
	return pinned.String(), img, nil
}

// envList is an ordered KEY=VALUE list with Docker's replace semantics:
// setting an existing key keeps its position and changes its value.
type envList []string

func (e envList) get(k string) (string, bool) {
	for _, kv := range e {
		if key, v, _ := strings.Cut(kv, "="); key == k {
			return v, true
		}
	}
	return "", false
}

func (e *envList) set(k, v string) {
	for i, kv := range *e {
		if key, _, _ := strings.Cut(kv, "="); key == k {
			(*e)[i] = k + "=" + v
			return
		}
	}
	*e = append(*e, k+"="+v)
}

// apply puts every variable on the state, in order, so that build steps see
// the same environment the image config will have.
func (e envList) apply(st bkllb.State) bkllb.State {
	for _, kv := range e {
		k, v, _ := strings.Cut(kv, "=")
		st = st.AddEnv(k, v)
	}
	return st
}
