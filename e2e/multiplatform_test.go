//go:build e2e

package e2e

// A multi-platform build: examples/hello for linux/amd64 and linux/arm64 in
// one build through the frontend, exported as one OCI layout holding an
// image index. arm64 RUN steps and the arm64 image run under qemu-aarch64
// through binfmt_misc, which `hack/dev-env up` registers, from the
// python:3.11-slim and uv indexes it seeds.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestMultiPlatform builds hello for both platforms in-process and through
// docker buildx with the pushed frontend image, and checks each result.
func TestMultiPlatform(t *testing.T) {
	e := testEnv(t)
	requireArm64(t, e)
	const platforms = "linux/amd64,linux/arm64"

	t.Run("in-process", func(t *testing.T) {
		dir := prepareExample(t, e, hello.name, "")
		layout := filepath.Join(t.TempDir(), "oci")
		inProcessBuild(t, e, dir, layout, map[string]string{"platform": platforms})
		checkMultiPlatform(t, layout, dir)
	})
	t.Run("buildx", func(t *testing.T) {
		fe := frontendImage(t, e)
		dir := prepareExample(t, e, hello.name, fe)
		layout := filepath.Join(t.TempDir(), "oci")
		mustBuildx(t, e, dir, "-f", "cog.yaml", "--platform", platforms,
			"--output", "type=oci,dest="+layout+",tar=false", ".")
		checkMultiPlatform(t, layout, dir)
	})
}

// requireArm64 fails (never skips) unless arm64 binaries can run here and
// the seeded python base image has a linux/arm64 variant.
func requireArm64(t *testing.T, e *Env) {
	t.Helper()
	const binfmt = "/proc/sys/fs/binfmt_misc/qemu-aarch64"
	dt, err := os.ReadFile(binfmt)
	if err != nil || !strings.HasPrefix(string(dt), "enabled") {
		t.Fatalf("linux/arm64 emulation is not available (%s: %v %q): run `hack/dev-env up`, which registers qemu-aarch64 with binfmt_misc (Debian qemu-user-static)", binfmt, err, firstLine(string(dt)))
	}
	ref := e.Registry + "/library/python:3.11-slim"
	out := run(t, "", "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+ref)
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(out), &idx); err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	for _, m := range idx.Manifests {
		if m.Platform != nil && m.Platform.Architecture == "arm64" {
			return
		}
	}
	t.Fatalf("%s has no linux/arm64 image (manifest %s): run `hack/dev-env up` on a machine where qemu-aarch64 is registered", ref, idx.MediaType)
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// checkMultiPlatform checks the layout's index, each platform's image
// config, runs the amd64 image natively and the arm64 image under
// emulation, and asks both for a prediction.
func checkMultiPlatform(t *testing.T, layout, projectDir string) {
	t.Helper()
	manifests := platformManifests(t, layout)
	got := map[string]ocispec.Descriptor{}
	for _, m := range manifests {
		if m.Platform == nil {
			t.Fatalf("index entry %s has no platform", m.Digest)
		}
		got[m.Platform.OS+"/"+m.Platform.Architecture] = m
	}
	if len(manifests) != 2 || got["linux/amd64"].Digest == "" || got["linux/arm64"].Digest == "" {
		t.Fatalf("image index holds %d manifests %v, want exactly linux/amd64 and linux/arm64", len(manifests), manifests)
	}
	var schemas []string
	for _, arch := range []string{"amd64", "arm64"} {
		desc := got["linux/"+arch]
		if desc.MediaType != ocispec.MediaTypeImageManifest {
			t.Errorf("linux/%s entry is %s, want an image manifest", arch, desc.MediaType)
		}
		var m ocispec.Manifest
		readLayoutJSON(t, layout, desc.Digest.String(), &m)
		var img ocispec.Image
		readLayoutJSON(t, layout, m.Config.Digest.String(), &img)
		if img.OS != "linux" || img.Architecture != arch {
			t.Errorf("linux/%s image config says %s/%s", arch, img.OS, img.Architecture)
		}
		for _, l := range []string{"run.cog.config", "run.cog.version", "run.cog.openapi_schema", "run.cog.pip_freeze", "run.cog.has_init"} {
			if img.Config.Labels[l] == "" {
				t.Errorf("linux/%s image: label %s missing; labels: %v", arch, l, keys(img.Config.Labels))
			}
		}
		schemas = append(schemas, img.Config.Labels["run.cog.openapi_schema"])
	}
	if len(schemas) == 2 && !jsonEqual(schemas[0], schemas[1]) {
		t.Errorf("run.cog.openapi_schema differs between platforms:\namd64: %s\narm64: %s", schemas[0], schemas[1])
	}
	if t.Failed() {
		return
	}

	// amd64: the full runtime contract, natively.
	checkRuns(t, singleLayout(t, layout, got["linux/amd64"]), projectDir, hello, false)

	// arm64: the image's own python is an aarch64 binary (run through
	// qemu), and the model serves predictions under emulation too.
	c := runImage(t, singleLayout(t, layout, got["linux/arm64"]), "latest", nil)
	out := run(t, "", "runc", "exec", c.ID, "python3", "-c", "import platform; print(platform.machine())")
	if strings.TrimSpace(out) != "aarch64" {
		t.Errorf("arm64 image: python3 reports machine %q, want aarch64", strings.TrimSpace(out))
	}
	start := time.Now()
	c.waitReady(t, 5*time.Minute)
	t.Logf("arm64 model READY under emulation in %s", time.Since(start).Round(100*time.Millisecond))
	resp := c.curl(t, "-X", "POST", "-H", "Content-Type: application/json",
		"-d", `{"input":`+hello.input+`}`, "http://127.0.0.1:5000/predictions")
	var pred struct {
		Status string `json:"status"`
		Output any    `json:"output"`
	}
	if err := json.Unmarshal([]byte(resp), &pred); err != nil {
		t.Fatalf("arm64 POST /predictions: %v: %s", err, resp)
	}
	if pred.Status != "succeeded" || !reflect.DeepEqual(pred.Output, hello.output) {
		t.Errorf("arm64 POST /predictions = %s, want status succeeded and output %v\ncontainer log:\n%s", resp, hello.output, c.logs())
	}
}

// platformManifests returns the per-platform manifests of the layout: the
// entries of the image index that index.json points at.
func platformManifests(t *testing.T, layout string) []ocispec.Descriptor {
	t.Helper()
	var top ocispec.Index
	dt, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dt, &top); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("index.json = %s, want one entry pointing at an image index", dt)
	}
	var idx ocispec.Index
	readLayoutJSON(t, layout, top.Manifests[0].Digest.String(), &idx)
	return idx.Manifests
}

func readLayoutJSON(t *testing.T, layout, digest string, v any) {
	t.Helper()
	algo, hex, _ := strings.Cut(digest, ":")
	dt, err := os.ReadFile(filepath.Join(layout, "blobs", algo, hex))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dt, v); err != nil {
		t.Fatalf("blob %s: %v", digest, err)
	}
}

// singleLayout makes an OCI layout holding just one platform's image, tagged
// latest, so umoci and checkRuns see a plain single-platform image. Blobs
// are hard links into the multi-platform layout (same filesystem, no copy).
func singleLayout(t *testing.T, layout string, desc ocispec.Descriptor) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "oci")
	src := filepath.Join(layout, "blobs", "sha256")
	if err := os.MkdirAll(filepath.Join(dst, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if err := os.Link(filepath.Join(src, ent.Name()), filepath.Join(dst, "blobs", "sha256", ent.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dst, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	desc.Annotations = map[string]string{ocispec.AnnotationRefName: "latest"}
	desc.Platform = nil
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{desc}, MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	dt, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "index.json"), dt, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func jsonEqual(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}
