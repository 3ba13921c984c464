//go:build e2e

package e2e

// weights status against the real dev registry: after an import nothing is
// in a fresh repository; after some blobs are pushed (go-containerregistry's
// remote.WriteLayer, streaming the exact layer bytes from weights.Artifacts)
// exactly those are reported present; after the rest and the manifest under
// its cog-weight tag, the weight is complete. An unreachable registry is a
// line in the output, not a failure.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/internal/weightgen"
	"github.com/cog-frontend/cog-frontend/weights"
	"github.com/cog-frontend/cog-frontend/wire"
)

// blobLayer streams a weight blob into remote.WriteLayer; the registry
// checks the bytes against the digest.
type blobLayer struct{ b weights.Blob }

func (l blobLayer) Digest() (v1.Hash, error) { return v1.NewHash(string(l.b.Descriptor.Digest)) }
func (l blobLayer) Compressed() (io.ReadCloser, error) {
	return l.b.Open(context.Background())
}
func (l blobLayer) Size() (int64, error) { return l.b.Descriptor.Size, nil }
func (l blobLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.b.Descriptor.MediaType), nil
}

type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

type statusJSON struct {
	Weights  []weights.WeightReport
	Registry *weights.RegistryReport
}

func weightsStatusJSON(t *testing.T, dir, bin string, args ...string) statusJSON {
	t.Helper()
	out := run(t, dir, bin, append([]string{"weights", "status", "--json"}, args...)...)
	var st statusJSON
	i := strings.Index(out, "{")
	if i < 0 {
		t.Fatalf("no JSON in status output:\n%s", out)
	}
	if err := json.Unmarshal([]byte(out[i:]), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if st.Registry == nil {
		t.Fatalf("status --json has no registry section:\n%s", out)
	}
	return st
}

func TestWeightsStatusRegistry(t *testing.T) {
	e := testEnv(t)
	dir := t.TempDir()
	t.Setenv("COG_CACHE_DIR", filepath.Join(dir, ".cache-store"))

	// "big": a raw .safetensors layer and a gzip bundle; "small": one bundle.
	old := time.Now().Add(-time.Hour)
	gen := func(name string, spec weightgen.Spec) {
		src := filepath.Join(dir, "weights", name)
		files, err := weightgen.Generate(src, spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			os.Chtimes(filepath.Join(src, filepath.FromSlash(f.Path)), old, old)
		}
	}
	gen("big", weightgen.Spec{Seed: 21, LargeFiles: 1, LargeMin: 64 << 20, LargeMax: 64<<20 + 4096,
		SmallFiles: 12, SmallMin: 100, SmallMax: 8 << 10, MaxDepth: 1})
	gen("small", weightgen.Spec{Seed: 22, SmallFiles: 5, SmallMin: 100, SmallMax: 4 << 10})

	repoRef := e.TempRepo(t, "weights-status")
	cogYAML := "build:\n  python_version: \"3.11\"\nmodel: " + repoRef + `
weights:
  - name: big
    target: /src/weights/big
    source:
      uri: weights/big
  - name: small
    target: /src/weights/small
    source:
      uri: weights/small
`
	if err := os.WriteFile(filepath.Join(dir, "cog.yaml"), []byte(cogYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, e.Binary, "weights", "import")
	lockBytes, err := os.ReadFile(filepath.Join(dir, "weights.lock"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := config.ParseLock("weights.lock", lockBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(lock.Weights) != 2 || len(lock.Weights[0].Layers) != 2 || len(lock.Weights[1].Layers) != 1 {
		t.Fatalf("fixture: want big with 2 layers and small with 1, lock has %+v", lock.Weights)
	}

	// 1. A fresh repository holds nothing.
	st := weightsStatusJSON(t, dir, e.Binary)
	reg := st.Registry
	if !reg.Checked || reg.Error != "" || reg.Repository != repoRef || len(reg.Weights) != 2 {
		t.Fatalf("registry section: %+v", reg)
	}
	for i, w := range reg.Weights {
		lw := lock.Weights[i]
		if w.Name != lw.Name || w.Manifest != lw.Digest || w.Tag != wire.WeightTag(lw.Name, lw.SetDigest) {
			t.Errorf("weight %d identity: %+v", i, w)
		}
		if want := "cog-weight." + lw.Name + "." + strings.TrimPrefix(lw.SetDigest, "sha256:")[:12]; w.Tag != want {
			t.Errorf("tag %s, spec §9 says %s", w.Tag, want)
		}
		if w.LayersPresent != 0 || w.LayersMissing != len(lw.Layers) || w.ConfigPresent || w.ManifestPresent || w.TagPresent ||
			w.BytesToUpload <= lw.SizeCompressed {
			t.Errorf("fresh repository, weight %s: %+v", w.Name, w)
		}
	}

	// 2. Push big's bundle layer and config blob.
	arts, err := weights.Artifacts(context.Background(), weights.ArtifactsOptions{ProjectDir: dir, Config: mustConfig(t, dir), LockPath: filepath.Join(dir, "weights.lock")})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(repoRef, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	big := arts[0]
	var bundle, raw weights.Blob
	for _, l := range big.Layers {
		if l.Descriptor.MediaType == wire.MediaTypeLayerTarGzip {
			bundle = l
		} else {
			raw = l
		}
	}
	if bundle.Open == nil || raw.Open == nil {
		t.Fatalf("big should have a gzip bundle and a raw layer: %+v", big.Layers)
	}
	push := func(b weights.Blob) {
		t.Helper()
		l, err := partial.CompressedToLayer(blobLayer{b})
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteLayer(repo, l); err != nil {
			t.Fatalf("push %s: %v", b.Descriptor.Digest, err)
		}
		t.Cleanup(func() { // blobs are not removed with the tags
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			path := strings.TrimPrefix(repoRef, e.Registry+"/")
			if err := e.registryDo(ctx, http.MethodDelete, "/v2/"+path+"/blobs/"+string(b.Descriptor.Digest), nil, http.StatusAccepted, http.StatusNotFound); err != nil {
				t.Errorf("delete blob: %v", err)
			}
		})
	}
	push(bundle)
	push(big.Config)

	st = weightsStatusJSON(t, dir, e.Binary)
	rb, rs := st.Registry.Weights[0], st.Registry.Weights[1]
	if rb.LayersPresent != 1 || rb.LayersMissing != 1 || !rb.ConfigPresent || rb.ManifestPresent || rb.TagPresent ||
		!slices.Equal(rb.MissingLayers, []string{string(raw.Descriptor.Digest)}) ||
		rb.BytesPresent != bundle.Descriptor.Size || rb.BytesToUpload != raw.Descriptor.Size {
		t.Errorf("after pushing big's bundle and config: %+v", rb)
	}
	if rs.LayersPresent != 0 || rs.LayersMissing != 1 || rs.ConfigPresent {
		t.Errorf("small is untouched: %+v", rs)
	}

	// The text form says the same.
	out := run(t, dir, e.Binary, "weights", "status")
	if !strings.Contains(out, "registry "+repoRef+":") ||
		!strings.Contains(out, "1/2 layers present, 1 missing, config present, manifest missing, tag "+rb.Tag+" missing") {
		t.Errorf("text status:\n%s", out)
	}

	// 3. The raw layer and the manifest under its tag complete big.
	push(raw)
	if err := remote.Put(repo.Tag(rb.Tag), rawManifest(big.Manifest)); err != nil {
		t.Fatal(err)
	}
	st = weightsStatusJSON(t, dir, e.Binary)
	rb = st.Registry.Weights[0]
	if !rb.Complete() || rb.BytesToUpload != 0 || rb.TagDigest != lock.Weights[0].Digest {
		t.Errorf("big after a full push: %+v", rb)
	}
	if st.Registry.Weights[1].Complete() {
		t.Errorf("small reported complete: %+v", st.Registry.Weights[1])
	}
	out = run(t, dir, e.Binary, "weights", "status")
	if !strings.Contains(out, "all 2 layers present, config present, manifest present, tag "+rb.Tag+" present - up to date") {
		t.Errorf("text status after a full push:\n%s", out)
	}

	// --no-registry asks nothing; an unreachable registry is a line, the
	// local status is still printed and the command succeeds.
	if st := weightsStatusJSON(t, dir, e.Binary, "--no-registry"); st.Registry.Checked || st.Registry.Skipped == "" {
		t.Errorf("--no-registry: %+v", st.Registry)
	}
	out = run(t, dir, e.Binary, "weights", "status", "--registry-repo", "127.0.0.1:1/nothing/here")
	if !strings.Contains(out, "registry 127.0.0.1:1 is unreachable") || !strings.Contains(out, "big") || !strings.Contains(out, "unchanged") {
		t.Errorf("unreachable registry:\n%s", out)
	}
}

func mustConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	p := filepath.Join(dir, "cog.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Parse(p, b)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
