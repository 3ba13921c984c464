package weights

// ProbeRegistry against go-containerregistry's registry implementation
// (pkg/registry, the OCI distribution API in memory): blobs and manifests
// are really pushed with remote.WriteLayer / remote.Put and then found by
// HEAD. Faults (refused credentials, a silent host, cancellation) are
// injected in front of it.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/wire"
)

// rawManifest is a manifest given as bytes, for remote.Put.
type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return ocispec.MediaTypeImageManifest, nil }

func testRegistry(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestProbeRegistryFindsPushedObjects(t *testing.T) {
	host := testRegistry(t, registry.New())
	repo, err := ParseRepository(host + "/acct/model")
	if err != nil {
		t.Fatal(err)
	}
	a, blobs := lockEntry(t, "a", "layer-one", "layer-two", "layer-three")
	b, _ := lockEntry(t, "b", "b-only")
	lock := &config.Lock{Version: 1, Weights: []config.LockWeight{a, b}}
	ctx := context.Background()

	rep, err := CheckRegistry(ctx, lock, repo, testTag, ProbeOptions{})
	if err != nil || !rep.Checked || rep.Error != "" {
		t.Fatalf("empty repository: %+v, %v", rep, err)
	}
	for _, w := range rep.Weights {
		if w.LayersPresent != 0 || w.ConfigPresent || w.ManifestPresent || w.TagPresent {
			t.Errorf("empty repository reports something present: %+v", w)
		}
	}

	// Push two of a's layers, a's config blob, and a's manifest under its tag.
	cfgDigest, _, _ := lockWeightConfig(a)
	for _, d := range []string{pack.Digest([]byte("layer-one")), pack.Digest([]byte("layer-three")), cfgDigest} {
		if err := remote.WriteLayer(repo, static.NewLayer(blobs[d], wire.MediaTypeLayerTar)); err != nil {
			t.Fatal(err)
		}
	}
	_, manifest, err := entryBytes(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(repo.Tag(testTag("a", a.SetDigest)), rawManifest(manifest)); err != nil {
		t.Fatal(err)
	}

	rep, err = CheckRegistry(ctx, lock, repo, testTag, ProbeOptions{Concurrency: 2})
	if err != nil || !rep.Checked {
		t.Fatalf("%+v, %v", rep, err)
	}
	ra, rb := rep.Weights[0], rep.Weights[1]
	if ra.LayersPresent != 2 || ra.LayersMissing != 1 || !ra.ConfigPresent || !ra.ManifestPresent || !ra.TagPresent ||
		ra.BytesToUpload != int64(len("layer-two")) || len(ra.MissingLayers) != 1 || ra.MissingLayers[0] != pack.Digest([]byte("layer-two")) {
		t.Errorf("weight a: %+v", ra)
	}
	if rb.LayersPresent != 0 || rb.ConfigPresent || rb.ManifestPresent || rb.TagPresent {
		t.Errorf("weight b: %+v", rb)
	}

	// The remaining layer completes a; b's tag now points at a's manifest.
	if err := remote.WriteLayer(repo, static.NewLayer(blobs[pack.Digest([]byte("layer-two"))], wire.MediaTypeLayerTar)); err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(repo.Tag(testTag("b", b.SetDigest)), rawManifest(manifest)); err != nil {
		t.Fatal(err)
	}
	rep, _ = CheckRegistry(ctx, lock, repo, testTag, ProbeOptions{})
	if !rep.Weights[0].Complete() || rep.Weights[0].BytesToUpload != 0 {
		t.Errorf("weight a should be complete: %+v", rep.Weights[0])
	}
	if rb := rep.Weights[1]; rb.TagPresent || rb.TagDigest != a.Digest {
		t.Errorf("weight b's tag points at a's manifest, got %+v", rb)
	}
}

func TestProbeRegistryAuthFailure(t *testing.T) {
	// A proxy in front of a real registry that refuses every request, as a
	// registry does for missing or wrong credentials.
	reg := registry.New()
	host := testRegistry(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			reg.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	repo, _ := ParseRepository(host + "/acct/model")
	a, _ := lockEntry(t, "a", "x")
	rep, err := CheckRegistry(context.Background(), &config.Lock{Version: 1, Weights: []config.LockWeight{a}}, repo, testTag, ProbeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked || !strings.Contains(rep.Error, "refused access") || !strings.Contains(rep.Error, host) {
		t.Errorf("report: %+v", rep)
	}
	_, err = ProbeRegistry(context.Background(), repo, RegistryWanted(&config.Lock{Weights: []config.LockWeight{a}}, testTag), ProbeOptions{})
	var re *RegistryError
	if !errors.As(err, &re) || re.Kind != "auth" {
		t.Errorf("error %v, want an auth RegistryError", err)
	}
}

func TestProbeRegistryUnreachableAndSilent(t *testing.T) {
	a, _ := lockEntry(t, "a", "x")
	want := RegistryWanted(&config.Lock{Weights: []config.LockWeight{a}}, testTag)

	// Nothing listens: refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	repo, _ := ParseRepository(addr + "/m")
	_, err = ProbeRegistry(context.Background(), repo, want, ProbeOptions{})
	var re *RegistryError
	if !errors.As(err, &re) || re.Kind != "unreachable" || !strings.Contains(err.Error(), addr) {
		t.Errorf("closed port: %v", err)
	}

	// Accepts connections, never answers: the timeout ends it.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	repo, _ = ParseRepository(silent.Addr().String() + "/m")
	start := time.Now()
	_, err = ProbeRegistry(context.Background(), repo, want, ProbeOptions{Timeout: 300 * time.Millisecond})
	if !errors.As(err, &re) || re.Kind != "timeout" {
		t.Errorf("silent host: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("silent host held the probe for %v", d)
	}

	// A cancelled context is returned as such, not as a registry problem.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CheckRegistry(ctx, &config.Lock{Weights: []config.LockWeight{a}}, repo, testTag, ProbeOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
