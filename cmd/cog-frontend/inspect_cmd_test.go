package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layoutWriter builds OCI layouts by hand, for formats this tool only reads.
type layoutWriter struct {
	t   *testing.T
	dir string
}

func (l layoutWriter) put(b []byte) digest.Digest {
	d := digest.FromBytes(b)
	p := filepath.Join(l.dir, "blobs", "sha256", d.Encoded())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		l.t.Fatal(err)
	}
	return d
}

func (l layoutWriter) manifest(m ocispec.Manifest) ocispec.Descriptor {
	m.SchemaVersion = 2
	m.MediaType = ocispec.MediaTypeImageManifest
	raw, _ := json.Marshal(m)
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: l.put(raw), Size: int64(len(raw))}
}

func (l layoutWriter) blob(mt string, b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mt, Digest: l.put(b), Size: int64(len(b))}
}

func (l layoutWriter) image() ocispec.Descriptor {
	cfg := l.blob(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","config":{"Labels":{"run.cog.version":"0.14.0","other":"x"}},"rootfs":{"type":"layers","diff_ids":[]}}`))
	return l.manifest(ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{l.blob(ocispec.MediaTypeImageLayerGzip, []byte("layer"))}})
}

func (l layoutWriter) finish(tag string, root ocispec.Descriptor) {
	root.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{root}}
	idx.SchemaVersion = 2
	raw, _ := json.Marshal(idx)
	os.WriteFile(filepath.Join(l.dir, "index.json"), raw, 0o644)
	os.WriteFile(filepath.Join(l.dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

func TestInspectReadsFebruary2026Bundle(t *testing.T) {
	l := layoutWriter{t, t.TempDir()}
	img := l.image()
	img.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	layer := func(name, dest, size string) ocispec.Descriptor {
		d := l.blob("application/vnd.cog.weights.layer.v1+gzip", []byte(name))
		d.Annotations = map[string]string{"vnd.cog.weights.name": name, "vnd.cog.weights.dest": dest,
			"vnd.cog.weights.digest.original": digest.FromString(name).String(), "vnd.cog.weights.size.uncompressed": size}
		return d
	}
	w := l.manifest(ocispec.Manifest{
		Config: l.blob("application/vnd.oci.empty.v1+json", []byte(`{}`)),
		Layers: []ocispec.Descriptor{layer("model.safetensors", "/src/weights/model.safetensors", "1000"), layer("config.json", "/src/weights/config.json", "12")},
	})
	w.ArtifactType = "application/vnd.cog.weights.v1"
	w.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	w.Annotations = map[string]string{"vnd.cog.reference.type": "weights", "vnd.cog.reference.digest": img.Digest.String()}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{img, w}}
	idx.SchemaVersion = 2
	raw, _ := json.Marshal(idx)
	l.finish("v0", l.blob(ocispec.MediaTypeImageIndex, raw))

	in, err := inspect(context.Background(), "oci-layout://"+l.dir+":v0")
	if err != nil {
		t.Fatal(err)
	}
	if in.Format != "bundle-v0" || len(in.Images) != 1 || in.Images[0].Platform != "linux/amd64" || len(in.Weights) != 2 {
		t.Fatalf("inspection = %+v", in)
	}
	if in.Images[0].Labels["run.cog.version"] != "0.14.0" || in.Images[0].Labels["other"] != "" {
		t.Errorf("labels = %v, want only the run.cog.* ones", in.Images[0].Labels)
	}
	if got := in.Weights[0]; got.Name != "model.safetensors" || got.Target != "/src/weights/model.safetensors" || got.Size != 1000 || got.Format != "v0" {
		t.Errorf("weight 0 = %+v", got)
	}
}

func TestInspectReadsStandaloneImage(t *testing.T) {
	l := layoutWriter{t, t.TempDir()}
	l.finish("plain", l.image())
	in, err := inspect(context.Background(), "oci-layout://"+l.dir)
	if err != nil {
		t.Fatal(err)
	}
	if in.Format != "standalone" || len(in.Images) != 1 || in.Images[0].Platform != "linux/amd64" || len(in.Weights) != 0 {
		t.Errorf("inspection = %+v", in)
	}
}

func TestParseTagRefRules(t *testing.T) {
	if _, err := parseTagRef("r.example/a/b:cog-weight.x"); err == nil {
		t.Error("reserved tag accepted")
	}
	r, err := parseTagRef("r.example/a/b")
	if err != nil || len(r.TagStr()) != len("20260101T000000Z") {
		t.Errorf("default tag: %v %v", r, err)
	}
	if _, err := parseTagRef("r.example/a/b@sha256:" + digest.FromString("x").Encoded()); err == nil {
		t.Error("digest reference accepted for push")
	}
}

func TestParseOutput(t *testing.T) {
	o, err := parseOutput("type=oci,dest=out/x.tar")
	if err != nil || o.Dest != "out/x.tar" {
		t.Errorf("%+v %v", o, err)
	}
	if _, err := parseOutput("type=docker,dest=x"); err == nil {
		t.Error("unsupported output type accepted")
	}
}

func TestLabelSummaryKeepsTheTreeToOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"true":                           "true",
		"a==1\nb==2\nc==3":               "a==1 ... (3 lines)",
		strings.Repeat("x", 130):         strings.Repeat("x", 117) + "...",
		"one\n" + strings.Repeat("y", 5): "one ... (2 lines)",
	} {
		if got := labelSummary(in); got != want {
			t.Errorf("labelSummary(%q) = %q, want %q", in, got, want)
		}
	}
}
