package pull_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/pull"
	"github.com/cog-frontend/cog-frontend/weights/pull/pulltest"
)

// memSource serves fixed manifests and blobs by digest, and top under the
// tag "bundle": the fuzzed bytes sit beside real artifacts, so a mutated
// index or manifest still reaches real weight manifests and config blobs.
type memSource struct {
	top   []byte
	blobs map[digest.Digest][]byte
}

func (s memSource) Manifest(_ context.Context, ref string) ([]byte, string, error) {
	if ref == "bundle" {
		return s.top, "", nil
	}
	if b, ok := s.blobs[digest.Digest(ref)]; ok {
		return b, "", nil
	}
	return nil, "", fmt.Errorf("manifest %s: not found", ref)
}

func (s memSource) Blob(_ context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, int64, error) {
	b, ok := s.blobs[d]
	if !ok {
		return nil, 0, fmt.Errorf("blob %s: not found", d)
	}
	return io.NopCloser(bytes.NewReader(b)), 0, nil
}

func (memSource) Retry(ctx context.Context, _ string, f func() (bool, error)) error {
	_, err := f()
	return err
}

func (memSource) Remote() bool { return false }

// fixtures are real artifacts built with the packer (two v1 weights, one
// of several layers) and a February 2026 artifact.
func fixtures() (memSource, [][]byte) {
	opts := pack.Options{BundleFileMax: 64, BundleSizeMax: 128}
	a := pulltest.Weight("base", "/src/weights/base", map[string][]byte{"config.json": []byte(`{"d":1}`), "model.bin": bytes.Repeat([]byte("w"), 200), "tok/vocab.txt": []byte("a\nb\n")}, opts)
	b := pulltest.Weight("lora", "/src/weights/lora", map[string][]byte{"adapter.safetensors": []byte("lora")}, opts)
	v0, v0layers := pulltest.V0(pulltest.V0File{Name: "m", Dest: "/src/models/m.bin", Data: []byte("model")}, pulltest.V0File{Name: "n", Dest: "/src/n.txt", Data: []byte("n")})
	src := memSource{blobs: map[digest.Digest][]byte{}}
	for _, w := range []pulltest.Built{a, b} {
		src.blobs[w.ManifestDigest()] = w.Manifest
		src.blobs[digest.FromBytes(w.Config)] = w.Config
		for d, l := range w.Layers {
			src.blobs[d] = l
		}
	}
	src.blobs[digest.FromBytes(v0)] = v0
	for d, l := range v0layers {
		src.blobs[d] = l
	}
	v0idx, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{
		MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(v0), Size: int64(len(v0)),
		Annotations: map[string]string{"vnd.cog.reference.type": "weights"},
	}}})
	return src, [][]byte{pulltest.Index(a, b), a.Manifest, b.Manifest, v0, v0idx, a.Config}
}

// checkWeights asserts what every later step trusts of a resolved weight:
// targets absolute and clean, paths safe, so ROOT+target+path stays in ROOT.
func checkWeights(t *testing.T, ws []pull.Weight) {
	t.Helper()
	root := "/delivery/root"
	for _, w := range ws {
		layers := map[digest.Digest]bool{}
		for _, l := range w.Layers {
			layers[l.Digest] = true
		}
		if w.Format == pull.FormatV1 {
			if err := pull.CheckTarget(w.Target); err != nil {
				t.Fatalf("accepted %s: %v", w, err)
			}
		}
		for _, f := range w.Files {
			p := f.Path
			if w.Format == pull.FormatV1 {
				if err := pack.ValidatePath(f.Path); err != nil {
					t.Fatalf("accepted file path %q: %v", f.Path, err)
				}
				p = path.Join(w.Target, f.Path)
			} else if err := pull.CheckTarget(f.Path); err != nil {
				t.Fatalf("accepted v0 destination %q: %v", f.Path, err)
			}
			if full := filepath.Join(root, p); !strings.HasPrefix(full, root+"/") {
				t.Fatalf("file %q of %s lands at %s, outside %s", f.Path, w, full, root)
			}
			if !layers[f.Layer] {
				t.Fatalf("file %q in layer %s, which %s does not list", f.Path, f.Layer, w)
			}
			if f.Size < 0 || !strings.HasPrefix(f.Digest, "sha256:") {
				t.Fatalf("file %q accepted with size %d digest %q", f.Path, f.Size, f.Digest)
			}
		}
	}
}

// FuzzResolve feeds arbitrary bytes as the bundle index or manifest a pull
// starts from (extra is served at its own digest too). Resolve never panics,
// and what it accepts is safe to deliver.
func FuzzResolve(f *testing.F) {
	base, seeds := fixtures() // built once: packing is slow next to parsing
	for _, s := range seeds {
		f.Add(s, []byte(nil))
	}
	f.Add([]byte(`{"manifests":[{"digest":"sha256:00","artifactType":"application/vnd.cog.weight.v1"}]}`), []byte(`{}`))
	f.Add([]byte(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cog.weight.config.v1+json","size":-1}}`), []byte(nil))
	f.Fuzz(func(t *testing.T, top, extra []byte) {
		src := memSource{top: top, blobs: maps.Clone(base.blobs)}
		if extra != nil {
			src.blobs[digest.FromBytes(extra)] = extra
		}
		ws, err := pull.Resolve(context.Background(), src, "bundle", nil)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(ws) == 0 {
			t.Fatal("Resolve accepted a bundle of no weights")
		}
		checkWeights(t, ws)
	})
}

// FuzzParseWeightManifest feeds an arbitrary weight manifest and config
// blob to the two parsers (today's format with its config blob, and
// February 2026's); they never panic and accept only safe weights.
func FuzzParseWeightManifest(f *testing.F) {
	src, seeds := fixtures()
	for _, s := range seeds[1:4] {
		var m ocispec.Manifest
		if err := json.Unmarshal(s, &m); err != nil {
			f.Fatal(err)
		}
		f.Add(s, src.blobs[m.Config.Digest])
	}
	f.Add([]byte(`{"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:`+strings.Repeat("a", 64)+`"}]}`),
		[]byte(`{"name":"w","target":"/w","files":[{"path":"../x","layer":"sha256:`+strings.Repeat("a", 64)+`","digest":"sha256:`+strings.Repeat("b", 64)+`"}]}`))
	// February 2026 layers with hostile destinations and sizes.
	for _, a := range []string{`"vnd.cog.weights.dest":"/src/../../etc/passwd"`, `"vnd.cog.weights.dest":"relative/x"`, `"vnd.cog.weights.dest":"/src/x","vnd.cog.weights.size.uncompressed":"-1"`} {
		f.Add([]byte(`{"artifactType":"application/vnd.cog.weights.v1","layers":[{"mediaType":"application/vnd.cog.weights.layer.v1+gzip","digest":"sha256:`+strings.Repeat("c", 64)+
			`","annotations":{`+a+`,"vnd.cog.weights.digest.original":"sha256:`+strings.Repeat("d", 64)+`"}}]}`), []byte(nil))
	}
	f.Fuzz(func(t *testing.T, manifest, cfg []byte) {
		var m ocispec.Manifest
		if err := json.Unmarshal(manifest, &m); err != nil {
			return
		}
		md := digest.FromBytes(manifest)
		if w, err := pull.ParseV1(md, m, cfg); err == nil {
			if w.Format != pull.FormatV1 || pack.SetDigest(packFiles(w)) != w.SetDigest {
				t.Fatalf("ParseV1 accepted %+v", w)
			}
			checkWeights(t, []pull.Weight{w})
		}
		if w, err := pull.ParseV0(md, m); err == nil {
			if w.Format != pull.FormatV0 || len(w.Files) == 0 {
				t.Fatalf("ParseV0 accepted %+v", w)
			}
			checkWeights(t, []pull.Weight{w})
		}
	})
}

func packFiles(w pull.Weight) []pack.File {
	var fs []pack.File
	for _, f := range w.Files {
		fs = append(fs, pack.File{Path: f.Path, Size: f.Size, Digest: f.Digest})
	}
	return fs
}
