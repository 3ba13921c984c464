package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestUserTagRules(t *testing.T) {
	if err := ValidateUserTag("cog-image.x"); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("reserved tag accepted: %v", err)
	}
	if err := ValidateUserTag("bad tag"); err == nil {
		t.Error("invalid tag accepted")
	}
	if err := ValidateUserTag("v1.0"); err != nil {
		t.Error(err)
	}
	if got := DefaultTag(time.Date(2026, 6, 12, 16, 41, 25, 0, time.FixedZone("x", 3600))); got != "20260612T154125Z" {
		t.Errorf("DefaultTag = %q", got)
	}
}

// testImage writes a tiny image (config + one layer + manifest) into a
// layout source directory, plus an attestation manifest, and returns the
// descriptors BuildKit's index would hold.
func testImage(t *testing.T, dir string) (LayoutSource, []ocispec.Descriptor) {
	t.Helper()
	put := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		p := filepath.Join(dir, "blobs", "sha256", d.Encoded())
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := []byte("not really a tar")
	man := func(cfgMT string, cfg, layer []byte) ocispec.Descriptor {
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
			Config: ocispec.Descriptor{MediaType: cfgMT, Digest: put(cfg), Size: int64(len(cfg))},
			Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: put(layer), Size: int64(len(layer))}}}
		m.SchemaVersion = 2
		raw, _ := json.Marshal(m)
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: put(raw), Size: int64(len(raw))}
	}
	img := man(ocispec.MediaTypeImageConfig, cfg, layer)
	img.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	att := man("application/vnd.in-toto+json", []byte(`{}`), []byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`))
	att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{wire.AnnotationDockerReferenceType: wire.DockerReferenceTypeAttestation, wire.AnnotationDockerReferenceDigest: img.Digest.String()}
	return LayoutSource{Dir: dir}, []ocispec.Descriptor{att, img}
}

func TestAssembleOrdersImagesAttestationsWeights(t *testing.T) {
	src, ms := testImage(t, t.TempDir())
	w1 := testWeight("zeta", "/src/weights/zeta", []byte("aaaa"), []byte("bb"))
	w2 := testWeight("alpha", "/src/weights/alpha", []byte("c"))
	b, err := Assemble(ms, []Weight{w1, w2}, src)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b.IndexBytes, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.MediaType != ocispec.MediaTypeImageIndex || idx.SchemaVersion != 2 || len(idx.Manifests) != 4 {
		t.Fatalf("index = %s", b.IndexBytes)
	}
	if idx.Manifests[0].Platform.OS != "linux" || !IsAttestation(idx.Manifests[1]) {
		t.Errorf("want image then attestation, got %s", b.IndexBytes)
	}
	for i, w := range []Weight{w1, w2} {
		d := idx.Manifests[2+i]
		if d.ArtifactType != wire.ArtifactTypeWeight || d.Digest != digest.FromBytes(w.Manifest) || d.Size != int64(len(w.Manifest)) {
			t.Errorf("weight descriptor %d = %+v", i, d)
		}
		want := map[string]string{wire.AnnotationWeightName: w.Name, wire.AnnotationWeightSetDigest: w.SetDigest, wire.AnnotationWeightSizeUncompressed: map[int]string{0: "6", 1: "1"}[i], wire.AnnotationReferenceType: "weights"}
		for k, v := range want {
			if d.Annotations[k] != v {
				t.Errorf("weight %d annotation %s = %q, want %q", i, k, d.Annotations[k], v)
			}
		}
	}
	// platform unknown/unknown is never omitted on weights
	if !bytes.Contains(b.IndexBytes, []byte(`"artifactType":"application/vnd.cog.weight.v1"`)) ||
		bytes.Count(b.IndexBytes, []byte(`"platform":{"architecture":"unknown","os":"unknown"}`)) != 3 {
		t.Errorf("weight platforms missing: %s", b.IndexBytes)
	}
	// deterministic
	b2, _ := Assemble(ms, []Weight{w1, w2}, src)
	if !bytes.Equal(b.IndexBytes, b2.IndexBytes) {
		t.Error("same inputs gave different index bytes")
	}
}

func TestAssembleRejectsInconsistentWeight(t *testing.T) {
	src, ms := testImage(t, t.TempDir())
	w := testWeight("w", "/w", []byte("x"))
	w.Layers = w.Layers[:0]
	if _, err := Assemble(ms, []Weight{w}, src); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("want error naming the weight, got %v", err)
	}
	w = testWeight("w", "/w", []byte("x"))
	if _, err := Assemble(ms, []Weight{w, w}, src); err == nil {
		t.Error("duplicate weight accepted")
	}
	if _, err := Assemble(ms[:1], nil, src); err == nil {
		t.Error("bundle without an image accepted")
	}
}

func TestLayoutRoundTripAndTarDeterminism(t *testing.T) {
	ctx := context.Background()
	src, ms := testImage(t, t.TempDir())
	w := testWeight("minilm", "/src/weights/minilm", []byte("layer-one"), []byte("layer-two"))
	b, err := Assemble(ms, []Weight{w}, src)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bundle")
	if err := WriteLayout(ctx, b, out, "v1"); err != nil {
		t.Fatal(err)
	}
	// rewrite over itself: replaces atomically, reuses blobs
	if err := WriteLayout(ctx, b, out, "v1"); err != nil {
		t.Fatal(err)
	}
	if lay, err := os.ReadFile(filepath.Join(out, "oci-layout")); err != nil || string(lay) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Fatalf("oci-layout = %q %v", lay, err)
	}
	ls, root, err := OpenLayout(out, "")
	if err != nil {
		t.Fatal(err)
	}
	if root.Digest != b.Index.Digest {
		t.Fatalf("layout root %s, want bundle index %s", root.Digest, b.Index.Digest)
	}
	got, err := Manifests(ctx, ls, root)
	if err != nil || len(got) != 3 {
		t.Fatalf("manifests %v %v", got, err)
	}
	if _, d, err := OpenLayout(out, wire.WeightTag("minilm", w.SetDigest)); err != nil || d.Digest != digest.FromBytes(w.Manifest) {
		t.Errorf("weight tag in layout: %v %v", d, err)
	}
	// every blob named in the layout exists and matches its digest
	ents, _ := os.ReadDir(filepath.Join(out, "blobs", "sha256"))
	// image: config, layer, manifest; attestation: config, layer, manifest;
	// weight: config, 2 layers, manifest; the bundle index.
	if len(ents) != 11 {
		t.Errorf("layout holds %d blobs, want 11", len(ents))
	}
	for _, e := range ents {
		raw, _ := os.ReadFile(filepath.Join(out, "blobs", "sha256", e.Name()))
		if digest.FromBytes(raw).Encoded() != e.Name() {
			t.Errorf("blob %s has wrong content", e.Name())
		}
	}
	siblings, _ := os.ReadDir(filepath.Dir(out))
	if len(siblings) != 1 {
		t.Errorf("temporary files left next to the layout: %v", siblings)
	}

	t1, t2 := filepath.Join(t.TempDir(), "a.tar"), filepath.Join(t.TempDir(), "b.tar")
	if err := WriteTar(ctx, b, t1, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := WriteTar(ctx, b, t2, "v1"); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(t1)
	y, _ := os.ReadFile(t2)
	if len(x) == 0 || !bytes.Equal(x, y) {
		t.Error("OCI tar is not byte-identical across runs")
	}
	if err := WriteLayout(ctx, b, filepath.Join(t.TempDir(), "x"), "cog-image.v1"); err == nil {
		t.Error("reserved tag accepted for a layout")
	}
}

func TestManifestsOfSingleImageReadsPlatform(t *testing.T) {
	src, ms := testImage(t, t.TempDir())
	d := ms[1]
	d.Platform = nil
	got, err := Manifests(context.Background(), src, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Platform == nil || got[0].Platform.OS != "linux" || got[0].Platform.Architecture != "amd64" {
		t.Errorf("got %+v", got)
	}
}
