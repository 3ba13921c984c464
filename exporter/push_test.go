package exporter

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/internal/registry"
	"github.com/cog-frontend/cog-frontend/internal/registry/registrytest"
	"github.com/cog-frontend/cog-frontend/wire"
)

type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }

func testBundle(t *testing.T) *Bundle {
	t.Helper()
	src, ms := testImage(t, t.TempDir())
	b, err := Assemble(ms, []Weight{
		testWeight("zeta", "/src/weights/zeta", bytes.Repeat([]byte("a"), 3000), []byte("bb")),
		testWeight("alpha", "/src/weights/alpha", []byte("c")),
	}, src)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testRegistry(t *testing.T) (*registrytest.Registry, string) {
	reg := registrytest.New()
	return reg, registrytest.Host(registrytest.Serve(t, reg))
}

func tag(t *testing.T, s string) name.Tag {
	t.Helper()
	r, err := registry.ParseRepository(s[:strings.LastIndexByte(s, ':')])
	if err != nil {
		t.Fatal(err)
	}
	return r.Tag(s[strings.LastIndexByte(s, ':')+1:])
}

func TestPushPublishesTheBundleUnderItsTags(t *testing.T) {
	reg, host := testRegistry(t)
	b := testBundle(t)
	var mu sync.Mutex
	done := map[digest.Digest]string{}
	p := &Pusher{Keychain: anonymous{}, ChunkSize: 1024, Progress: func(pr Progress) {
		if pr.Done {
			mu.Lock()
			done[pr.ID] = pr.Name
			mu.Unlock()
		}
	}}
	res, err := p.Push(context.Background(), b, tag(t, host+"/acct/model:v1"))
	if err != nil {
		t.Fatal(err)
	}
	// image config+layer, attestation config+layer, two weight configs and
	// three weight layers
	if len(res.Blobs) != 9 || len(done) != 9 || p.Stats.BlobsUploaded.Load() != 9 {
		t.Errorf("%d blobs, %d reported done, %d uploaded; want 9", len(res.Blobs), len(done), p.Stats.BlobsUploaded.Load())
	}
	for _, d := range res.Blobs {
		if _, ok := reg.Blob("acct/model", d); !ok {
			t.Errorf("blob %s (%s) missing", d, done[d])
		}
	}
	if done[b.Weights[0].Layers[0].Descriptor.Digest] != "weight zeta layer 1/2" {
		t.Errorf("labels: %v", done)
	}
	raw, mt, ok := reg.Manifest("acct/model", "v1")
	if !ok || !bytes.Equal(raw, b.IndexBytes) || mt != ocispec.MediaTypeImageIndex {
		t.Errorf("index under v1: %v %s", ok, mt)
	}
	if _, _, ok := reg.Manifest("acct/model", "cog-image.v1"); !ok || res.Images[0].Tag != "cog-image.v1" {
		t.Error("image not tagged cog-image.v1")
	}
	for i, w := range b.Weights {
		raw, _, ok := reg.Manifest("acct/model", wire.WeightTag(w.Name, w.SetDigest))
		if !ok || !bytes.Equal(raw, w.Manifest) || res.Weights[i].Tag != wire.WeightTag(w.Name, w.SetDigest) {
			t.Errorf("weight %s not under its tag", w.Name)
		}
	}
	if _, _, ok := reg.Manifest("acct/model", b.Attestations[0].Digest.String()); !ok {
		t.Error("attestation not pushed by digest")
	}

	again := &Pusher{Keychain: anonymous{}}
	if _, err := again.Push(context.Background(), b, tag(t, host+"/acct/model:v2")); err != nil {
		t.Fatal(err)
	}
	if again.Stats.BlobsExisting.Load() != 9 || again.Stats.BytesSent.Load() != 0 {
		t.Errorf("second push: %d existing, %d bytes sent; want 9 and 0", again.Stats.BlobsExisting.Load(), again.Stats.BytesSent.Load())
	}
}

func TestPushToASiblingRepositoryMountsEveryRecordedBlob(t *testing.T) {
	reg, host := testRegistry(t)
	b := testBundle(t)
	ref := tag(t, host+"/acct/model:v1")
	res, err := (&Pusher{Keychain: anonymous{}}).Push(context.Background(), b, ref)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := registry.LoadLocations(dir, ref.Context().Registry).Record("acct/model", res.Blobs); err != nil {
		t.Fatal(err)
	}
	locs := registry.LoadLocations(dir, ref.Context().Registry)
	p := &Pusher{Keychain: anonymous{}, MountFrom: locs.MountFrom}
	if _, err := p.Push(context.Background(), b, tag(t, host+"/acct/other:v1")); err != nil {
		t.Fatal(err)
	}
	if p.Stats.BlobsMounted.Load() != 9 || p.Stats.BytesSent.Load() != 0 || reg.Count("PATCH /v2/acct/other") != 0 {
		t.Errorf("mounted %d, sent %d bytes; want all 9 blobs (image layers and configs too) mounted", p.Stats.BlobsMounted.Load(), p.Stats.BytesSent.Load())
	}
}

func TestPushFromARegistrySourceMountsItsImage(t *testing.T) {
	reg, host := testRegistry(t)
	b := testBundle(t)
	if _, err := (&Pusher{Keychain: anonymous{}}).Push(context.Background(), b, tag(t, host+"/acct/model:v1")); err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithAuth(authn.Anonymous)}
	src, root, err := ResolveRegistry(context.Background(), tag(t, host+"/acct/model:cog-image.v1"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := Manifests(context.Background(), src, root)
	if err != nil || len(ms) != 1 || ms[0].Platform.OS != "linux" {
		t.Fatalf("manifests %+v, %v", ms, err)
	}
	b2, err := Assemble(ms, b.Weights[1:], src)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pusher{Keychain: anonymous{}}
	if _, err := p.Push(context.Background(), b2, tag(t, host+"/acct/copy:v1")); err != nil {
		t.Fatal(err)
	}
	// image config and layer mounted from the source repository; the
	// weight's blobs uploaded (nothing recorded them).
	if p.Stats.BlobsMounted.Load() != 2 || p.Stats.BlobsUploaded.Load() != 2 {
		t.Errorf("mounted %d, uploaded %d; want 2 and 2", p.Stats.BlobsMounted.Load(), p.Stats.BlobsUploaded.Load())
	}
	if _, _, ok := reg.Manifest("acct/copy", "cog-image.v1"); !ok {
		t.Error("image manifest not copied")
	}
}

func TestPushFailureNamesTheBlobAndWhatTheRegistrySaid(t *testing.T) {
	reg, host := testRegistry(t)
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch {
			registrytest.WriteError(w, http.StatusForbidden, "DENIED", "quota exceeded")
			return true
		}
		return false
	}
	b := testBundle(t)
	b.Weights, b.WeightDescs = b.Weights[1:], b.WeightDescs[1:]
	_, err := (&Pusher{Keychain: anonymous{}, Concurrency: 1}).Push(context.Background(), b, tag(t, host+"/acct/model:v1"))
	if err == nil || !strings.Contains(err.Error(), "DENIED: quota exceeded") || !strings.Contains(err.Error(), "to "+host+"/acct/model") {
		t.Errorf("error %v", err)
	}
	if _, err := (&Pusher{}).Push(context.Background(), b, tag(t, host+"/acct/model:cog-x")); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("reserved tag: %v", err)
	}
}

func TestPushBlobAndBlobExists(t *testing.T) {
	_, host := testRegistry(t)
	repo, _ := registry.ParseRepository(host + "/acct/blobs")
	p := &Pusher{Keychain: anonymous{}, Monolithic: true, BackoffBase: time.Millisecond, MountFrom: func(digest.Digest) []string { return []string{"acct/none"} }}
	bl := memBlob("application/octet-stream", []byte("hello"))
	ctx := context.Background()
	if ok, err := p.BlobExists(ctx, repo, bl.Descriptor.Digest); ok || err != nil {
		t.Fatalf("before: %v %v", ok, err)
	}
	if err := p.PushBlob(ctx, repo, bl.Descriptor, "greeting", bl.Open); err != nil {
		t.Fatal(err)
	}
	if ok, err := p.BlobExists(ctx, repo, bl.Descriptor.Digest); !ok || err != nil {
		t.Fatalf("after: %v %v", ok, err)
	}
	rc, err := RegistrySource{Repo: repo, Options: []remote.Option{remote.WithAuth(authn.Anonymous)}}.Fetch(ctx, bl.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "hello" {
		t.Errorf("fetched %q", got)
	}
}
