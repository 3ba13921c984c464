package exporter

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/wire"
)

func TestWeightDescriptorRefusesInconsistentWeights(t *testing.T) {
	for name, mutate := range map[string]func(w *Weight){
		"no name":           func(w *Weight) { w.Name = "" },
		"not JSON":          func(w *Weight) { w.Manifest = []byte("{") },
		"wrong type":        func(w *Weight) { w.Manifest = []byte(`{"mediaType":"x"}`) },
		"config mismatch":   func(w *Weight) { w.Config = memBlob(wire.MediaTypeWeightConfig, []byte("other")) },
		"layer mismatch":    func(w *Weight) { w.Layers = []Blob{memBlob("x", []byte("other"))} },
		"layer not opened":  func(w *Weight) { w.Layers[0].Open = nil },
		"config not opened": func(w *Weight) { w.Config.Open = nil },
		"other name":        func(w *Weight) { w.Name = "other" },
		"no set digest":     func(w *Weight) { w.SetDigest = "" },
		"bad set digest":    func(w *Weight) { w.SetDigest = "sha256:zz" },
	} {
		w := testWeight("w", "/w", []byte("x"))
		mutate(&w)
		if _, err := weightDescriptor(w); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOpenLayoutPicksTheEntry(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := OpenLayout(dir, ""); err == nil || !strings.Contains(err.Error(), "no index.json") {
		t.Errorf("empty dir: %v", err)
	}
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("a"), Annotations: map[string]string{ocispec.AnnotationRefName: "v1"}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("b"), Annotations: map[string]string{ocispec.AnnotationRefName: "cog-image.v1"}},
	}}
	raw, _ := json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644)
	if _, _, err := OpenLayout(dir, ""); err == nil || !strings.Contains(err.Error(), ocispec.ImageLayoutFile) {
		t.Errorf("no oci-layout: %v", err)
	}
	os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), ociLayoutFile, 0o644)
	if _, d, err := OpenLayout(dir, ""); err != nil || d.Digest != digest.FromString("a") {
		t.Errorf("default entry: %v %v", d.Digest, err)
	}
	if _, d, err := OpenLayout(dir, "cog-image.v1"); err != nil || d.Digest != digest.FromString("b") {
		t.Errorf("named entry: %v %v", d.Digest, err)
	}
	if _, _, err := OpenLayout(dir, "v2"); err == nil || !strings.Contains(err.Error(), `"v2"`) {
		t.Errorf("missing entry: %v", err)
	}
	src := LayoutSource{Dir: dir}
	if _, err := src.Fetch(context.Background(), ocispec.Descriptor{Digest: "sha256:zz"}); err == nil {
		t.Error("invalid digest fetched")
	}
	if _, err := ReadAllVerified(context.Background(), src, ocispec.Descriptor{Digest: digest.FromString("a"), Size: 1}); err == nil {
		t.Error("missing blob read")
	}
	if _, err := ReadAllVerified(context.Background(), src, ocispec.Descriptor{Digest: digest.FromString("a"), Size: 5 << 20}); err == nil {
		t.Error("oversized manifest read")
	}
}

func TestWriteLayoutRefusesToReplaceOtherContent(t *testing.T) {
	b := testBundle(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o644)
	if err := WriteLayout(context.Background(), b, dir, "v1"); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("non-layout dir: %v", err)
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	if err := WriteLayout(context.Background(), b, file, "v1"); err == nil {
		t.Error("wrote over a file")
	}
	if err := WriteLayout(context.Background(), b, t.TempDir(), "cog-x"); err == nil {
		t.Error("reserved tag accepted")
	}
	if !IsTarDest("out.TAR") || IsTarDest("out") {
		t.Error("IsTarDest")
	}
	if len(DefaultRemoteOptions()) != 1 {
		t.Error("DefaultRemoteOptions")
	}
}
