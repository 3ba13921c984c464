package frontend

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/solver/pb"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestFactsBecomeLabels(t *testing.T) {
	ref := memRef{files: map[string]string{
		"/src/.cog/openapi_schema.json": `{"openapi":"3.0.2"}`,
		"/src/.cog/pip_freeze.txt":      "numpy==2.1.0\n",
	}}
	img := dockerspec.DockerOCIImage{}
	img.Config.Labels = map[string]string{"run.cog.version": "dev"}
	err := addFactLabels(context.Background(), &img, map[string]string{
		"run.cog.openapi_schema": "/src/.cog/openapi_schema.json",
		"run.cog.pip_freeze":     "/src/.cog/pip_freeze.txt",
	}, ref)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"run.cog.version":        "dev",
		"run.cog.openapi_schema": `{"openapi":"3.0.2"}`,
		"run.cog.pip_freeze":     "numpy==2.1.0\n",
	}
	for k, v := range want {
		if img.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, img.Config.Labels[k], v)
		}
	}
}

// TestRunCogVersionIsTheInstalledCog: run.cog.version is replaced by the
// cog version pip freeze reports, whatever LLB time asked for.
func TestRunCogVersionIsTheInstalledCog(t *testing.T) {
	ref := memRef{files: map[string]string{"/src/.cog/pip_freeze.txt": "cog==0.22.0\ncoglet==0.22.0"}}
	img := dockerspec.DockerOCIImage{}
	img.Config.Labels = map[string]string{"run.cog.version": "0.22", "org.cogfrontend.version": "1.0.0"}
	if err := addFactLabels(context.Background(), &img, map[string]string{"run.cog.pip_freeze": "/src/.cog/pip_freeze.txt"}, ref); err != nil {
		t.Fatal(err)
	}
	if v := img.Config.Labels["run.cog.version"]; v != "0.22.0" {
		t.Errorf("run.cog.version = %q, want the installed 0.22.0", v)
	}
	if v := img.Config.Labels["org.cogfrontend.version"]; v != "1.0.0" {
		t.Errorf("org.cogfrontend.version = %q, want it untouched", v)
	}
}

func TestMissingFactIsAnError(t *testing.T) {
	img := dockerspec.DockerOCIImage{}
	err := addFactLabels(context.Background(), &img, map[string]string{"run.cog.openapi_schema": "/src/.cog/openapi_schema.json"}, memRef{})
	if err == nil || !strings.Contains(err.Error(), "run.cog.openapi_schema") || !strings.Contains(err.Error(), "/src/.cog/openapi_schema.json") {
		t.Errorf("error = %v, want it to name the label and the file", err)
	}
}

var testLock = &config.Lock{Version: 1, EnvelopeFormat: "sha256:ce2d", Weights: []config.LockWeight{
	{Name: "tiny", Target: "/src/weights/tiny", SetDigest: "sha256:aa", Digest: "sha256:bb"},
}}

// TestMultiPlatformResultAssembly pins what a client (buildx, the exporter)
// receives for --platform linux/amd64,linux/arm64: a ref and an image config
// per platform, the platform list, and the frontend's own metadata once.
func TestMultiPlatformResultAssembly(t *testing.T) {
	bc, err := dockerui.NewClient(fakeClient{opts: map[string]string{"platform": "linux/amd64,linux/arm64"}})
	if err != nil {
		t.Fatal(err)
	}
	build := func(_ context.Context, p *ocispec.Platform, _ int) (*dockerui.BuildResult, error) {
		img := &dockerspec.DockerOCIImage{}
		img.Platform = *p
		img.Config.Labels = map[string]string{"arch": p.Architecture}
		return &dockerui.BuildResult{Reference: memRef{}, Image: img}, nil
	}
	res, err := assemble(context.Background(), bc, build, wire.FormatBundle, testLock)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Refs) != 2 || res.Refs["linux/amd64"] == nil || res.Refs["linux/arm64"] == nil {
		t.Errorf("refs = %v, want one per platform", res.Refs)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		var img dockerspec.DockerOCIImage
		if err := json.Unmarshal(res.Metadata[exptypes.ExporterImageConfigKey+"/linux/"+arch], &img); err != nil {
			t.Fatalf("image config for %s: %v", arch, err)
		}
		if img.Architecture != arch || img.Config.Labels["arch"] != arch {
			t.Errorf("image config for %s holds %s/%v", arch, img.Architecture, img.Config.Labels)
		}
	}
	var ps exptypes.Platforms
	if err := json.Unmarshal(res.Metadata[exptypes.ExporterPlatformsKey], &ps); err != nil || len(ps.Platforms) != 2 {
		t.Errorf("platforms = %s (%v)", res.Metadata[exptypes.ExporterPlatformsKey], err)
	}
	if string(res.Metadata[MetaFormat]) != wire.FormatBundle {
		t.Errorf("format = %q", res.Metadata[MetaFormat])
	}
	var lock config.Lock
	if err := json.Unmarshal(res.Metadata[MetaWeightsLock], &lock); err != nil || len(lock.Weights) != 1 || lock.Weights[0].SetDigest != "sha256:aa" {
		t.Errorf("lock metadata = %s (%v)", res.Metadata[MetaWeightsLock], err)
	}
}

func TestSinglePlatformResultHasPlainKeysAndNoLockWithoutWeights(t *testing.T) {
	bc, err := dockerui.NewClient(fakeClient{opts: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	build := func(_ context.Context, p *ocispec.Platform, _ int) (*dockerui.BuildResult, error) {
		if p != nil {
			t.Errorf("no --platform: want the default (nil) platform, got %v", p)
		}
		return &dockerui.BuildResult{Reference: memRef{}, Image: &dockerspec.DockerOCIImage{}}, nil
	}
	res, err := assemble(context.Background(), bc, build, wire.FormatStandalone, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ref == nil || len(res.Refs) != 0 {
		t.Errorf("want a single ref, got ref=%v refs=%v", res.Ref, res.Refs)
	}
	if _, ok := res.Metadata[exptypes.ExporterImageConfigKey]; !ok {
		t.Error("no image config")
	}
	if _, ok := res.Metadata[MetaWeightsLock]; ok {
		t.Error("lock metadata without weights")
	}
	if string(res.Metadata[MetaFormat]) != wire.FormatStandalone {
		t.Errorf("format = %q", res.Metadata[MetaFormat])
	}
}

func TestNoCacheMarksEveryRunAndNothingElse(t *testing.T) {
	st := llb.Image("python:3.11-slim").Run(llb.Shlex("true")).Root().
		File(llb.Mkdir("/x", 0o755)).Run(llb.Shlex("false")).Root()
	def, err := st.Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := ignoreCacheOfRuns(def); err != nil {
		t.Fatal(err)
	}
	runs, others := 0, 0
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		md := def.Metadata[digest.FromBytes(dt)]
		switch {
		case op.GetExec() != nil:
			runs++
			if !md.IgnoreCache {
				t.Errorf("exec op %v keeps its cache", op.GetExec().Meta.Args)
			}
		case op.GetSource() != nil || op.GetFile() != nil:
			others++
			if md.IgnoreCache {
				t.Errorf("non-exec op %v ignores the cache", op.Op)
			}
		}
	}
	if runs != 2 || others != 2 {
		t.Fatalf("saw %d runs and %d other ops, want 2 and 2", runs, others)
	}
	last := def.Metadata[digest.FromBytes(def.Def[len(def.Def)-1])]
	if !last.Caps[pb.CapMetaIgnoreCache] {
		t.Error("the definition does not declare the ignore-cache capability")
	}
}
