package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/internal/registry/registrytest"
)

type keychain struct{ auth authn.Authenticator }

func (k keychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

var anonymous = keychain{authn.Anonymous}

// statuses records the status of every response, to see what the client
// was told.
type statuses struct {
	h  http.Handler
	mu sync.Mutex
	s  []int
}

type statusWriter struct {
	http.ResponseWriter
	code *int
}

func (w statusWriter) WriteHeader(c int) { *w.code = c; w.ResponseWriter.WriteHeader(c) }

func (s *statuses) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code := 200
	s.h.ServeHTTP(statusWriter{w, &code}, r) // no Hijacker: a dropped PATCH aborts the handler instead
	s.mu.Lock()
	s.s = append(s.s, code)
	s.mu.Unlock()
}

func (s *statuses) count(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.s {
		if c == code {
			n++
		}
	}
	return n
}

type fixture struct {
	reg  *registrytest.Registry
	srv  *httptest.Server
	repo name.Repository
	c    *Client
}

func newFixture(t *testing.T, reg *registrytest.Registry, h http.Handler) *fixture {
	t.Helper()
	if h == nil {
		h = reg
	}
	srv := registrytest.Serve(t, h)
	repo, err := ParseRepository(registrytest.Host(srv) + "/acct/model")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{reg: reg, srv: srv, repo: repo, c: &Client{Keychain: anonymous, BackoffBase: time.Millisecond, ChunkSize: 1000}}
}

func blob(n int) ([]byte, ocispec.Descriptor) {
	b := bytes.Repeat([]byte("0123456789abcdefghij"), n/20+1)[:n]
	return b, ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(n)}
}

func opener(b []byte) Opener {
	return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func (f *fixture) push(t *testing.T, b []byte, d ocispec.Descriptor, mountFrom ...string) Outcome {
	t.Helper()
	out, err := f.c.Repo(f.repo, Push).PushBlob(context.Background(), d, opener(b), mountFrom, nil)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	f.mustHave(t, f.repo.RepositoryStr(), b)
	return out
}

func (f *fixture) mustHave(t *testing.T, repo string, b []byte) {
	t.Helper()
	got, ok := f.reg.Blob(repo, digest.FromBytes(b))
	if !ok || !bytes.Equal(got, b) {
		t.Fatalf("registry holds %d bytes (present %v), want the %d pushed", len(got), ok, len(b))
	}
}

func TestPushBlobInChunksThenFindsItThere(t *testing.T) {
	f := newFixture(t, registrytest.New(), nil)
	b, d := blob(4500)
	var last string
	out, err := f.c.Repo(f.repo, Push).PushBlob(context.Background(), d, opener(b), nil, func(s string, _ int64) { last = s })
	if err != nil || out != Uploaded || last != "done" {
		t.Fatalf("push: %v, %v, last status %q", out, err, last)
	}
	f.mustHave(t, "acct/model", b)
	if n := f.reg.Count("PATCH"); n != 5 {
		t.Errorf("%d PATCHes for 4500 bytes in 1000-byte chunks, want 5", n)
	}
	if out := f.push(t, b, d); out != Existed || f.c.Stats.BlobsExisting.Load() != 1 {
		t.Errorf("second push: %v, want Existed", out)
	}
}

func TestPushBlobHonoursChunkLimits(t *testing.T) {
	reg := registrytest.New()
	reg.ChunkMin = 1500
	f := newFixture(t, reg, nil)
	b, d := blob(4500)
	f.push(t, b, d)
	if n := reg.Count("PATCH"); n != 3 {
		t.Errorf("%d PATCHes with OCI-Chunk-Min-Length 1500, want 3", n)
	}
	reg2 := registrytest.New()
	reg2.ChunkMax = 500
	f2 := newFixture(t, reg2, nil)
	f2.push(t, b, d)
	if n := reg2.Count("PATCH"); n != 9 {
		t.Errorf("%d PATCHes with OCI-Chunk-Max-Length 500, want 9", n)
	}
}

func TestPushBlobResumesFromTheRegistrysOffset(t *testing.T) {
	reg := registrytest.New()
	reg.DropPatchAfter = 1700 // inside the second chunk
	f := newFixture(t, reg, nil)
	f.c.ChunkSize = 3000
	b, d := blob(6000)
	f.push(t, b, d)
	if f.c.Stats.Resumed.Load() != 1 {
		t.Errorf("resumed %d times, want 1", f.c.Stats.Resumed.Load())
	}
	// 1700 bytes sent into the dropped request (at most the chunk), then
	// the remaining 4300: nothing the registry kept is sent again.
	if sent := f.c.Stats.BytesSent.Load(); sent > 3000+4300 {
		t.Errorf("sent %d bytes; want at most %d (no resend of what the registry kept)", sent, 3000+4300)
	}
}

func TestPatch416ResyncsWithTheRegistry(t *testing.T) {
	reg := registrytest.New()
	reg.DropPatchAfter = 1000 // the registry keeps the whole first chunk, the client sees a drop
	stale := true
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		// The first status request is answered as if the dropped chunk had
		// not landed yet (a registry still storing it).
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/uploads/") && stale {
			stale = false
			w.Header().Set("Location", r.URL.String())
			w.Header().Set("Range", "0-0")
			w.WriteHeader(http.StatusNoContent)
			return true
		}
		return false
	}
	st := &statuses{h: reg}
	f := newFixture(t, reg, st)
	b, d := blob(3000)
	f.push(t, b, d)
	if st.count(http.StatusRequestedRangeNotSatisfiable) != 1 {
		t.Errorf("the registry answered %d 416s, want 1 (the PATCH from the stale offset)", st.count(416))
	}
}

func TestRegistryWithoutChunkedUploadsGetsOnePut(t *testing.T) {
	reg := registrytest.New()
	reg.NoChunked = true
	f := newFixture(t, reg, nil)
	b, d := blob(2500)
	f.push(t, b, d)
	if reg.Count("PATCH") != 1 || reg.Count("PUT") != 1 || reg.Count("POST") != 2 {
		t.Errorf("requests %q; want one refused PATCH, then a new session and one PUT", reg.Log())
	}
	mono := newFixture(t, registrytest.New(), nil)
	mono.c.Monolithic = true
	mono.push(t, b, d)
	if mono.reg.Count("PATCH") != 0 {
		t.Errorf("Monolithic sent PATCHes: %q", mono.reg.Log())
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	reg := registrytest.New()
	var posts []time.Time
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		posts = append(posts, time.Now())
		if len(posts) == 1 {
			w.Header().Set("Retry-After", "1")
			registrytest.WriteError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "slow down")
			return true
		}
		return false
	}
	f := newFixture(t, reg, nil)
	b, d := blob(10)
	f.push(t, b, d)
	if len(posts) != 2 || posts[1].Sub(posts[0]) < time.Second {
		t.Fatalf("%d POSTs; retried after %v, want ≥ 1s as Retry-After asked", len(posts), posts[len(posts)-1].Sub(posts[0]))
	}
}

func TestRetryAfterBeyondTheLimitFailsSayingSo(t *testing.T) {
	reg := registrytest.New()
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost {
			w.Header().Set("Retry-After", "3600")
			registrytest.WriteError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "come back in an hour")
			return true
		}
		return false
	}
	f := newFixture(t, reg, nil)
	f.c.MaxRetryAfter = time.Second
	_, d := blob(10)
	_, err := f.c.Repo(f.repo, Push).PushBlob(context.Background(), d, opener(nil), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "retry after 1h0m0s") || !strings.Contains(err.Error(), "come back in an hour") {
		t.Fatalf("error %v; want one naming the wait and the registry's words", err)
	}
}

func TestCrossHostUploadLocationGetsNoCredentials(t *testing.T) {
	reg := registrytest.New()
	reg.User, reg.Password = "u", "secret"
	storage := registrytest.Serve(t, reg.Storage())
	reg.UploadBase = storage.URL
	f := newFixture(t, reg, nil)
	f.c.Keychain = keychain{authn.FromConfig(authn.AuthConfig{Username: "u", Password: "secret"})}
	b, d := blob(2500)
	f.push(t, b, d)
	if reg.Count("storage PATCH") != 3 || reg.Count("storage PUT") != 1 {
		t.Errorf("the upload did not go to the storage host: %q", reg.Log())
	}
	if a := reg.StorageAuth(); len(a) != 0 {
		t.Errorf("the storage host was sent credentials: %q", a)
	}
	// Without credentials the registry refuses, so they were sent to it.
	f.c = &Client{Keychain: anonymous, MaxRetries: -1}
	if _, err := f.c.Repo(f.repo, Push).HeadBlob(context.Background(), d.Digest); !Denied(err) {
		t.Errorf("anonymous HEAD: %v, want a refusal", err)
	}
}

func TestMountAnswered202FallsBackToUpload(t *testing.T) {
	f := newFixture(t, registrytest.New(), nil)
	b, d := blob(1500)
	if out := f.push(t, b, d, "acct/other", "acct/third"); out != Uploaded {
		t.Fatalf("outcome %v, want Uploaded", out)
	}
	if f.reg.Count("DELETE") != 1 || f.reg.Count("POST") != 2 {
		t.Errorf("requests %q; want two mount attempts, the first session cancelled, the second used", f.reg.Log())
	}
}

func TestMountDeniedFallsBackToUpload(t *testing.T) {
	reg := registrytest.New()
	reg.DenyPull = map[string]bool{"acct/secret": true}
	f := newFixture(t, reg, nil)
	b, d := blob(1500)
	reg.PutBlob("acct/secret", b)
	if out := f.push(t, b, d, "acct/secret"); out != Uploaded {
		t.Fatalf("outcome %v, want Uploaded", out)
	}
}

func TestMountFromASiblingRepository(t *testing.T) {
	f := newFixture(t, registrytest.New(), nil)
	b, d := blob(1500)
	f.reg.PutBlob("acct/other", b)
	if out := f.push(t, b, d, "acct/model", "acct/other"); out != Mounted || f.reg.Count("PATCH") != 0 {
		t.Fatalf("outcome %v, requests %q; want a mount", out, f.reg.Log())
	}
	ok, err := f.c.Repo(f.repo, Push).Mount(context.Background(), d.Digest, "acct/other")
	if !ok || err != nil {
		t.Errorf("Mount: %v, %v", ok, err)
	}
	_, d2 := blob(7)
	ok, err = f.c.Repo(f.repo, Push).Mount(context.Background(), d2.Digest, "acct/other")
	if ok || err != nil || f.reg.Count("DELETE") != 1 {
		t.Errorf("Mount of a missing blob: %v, %v, requests %q; want false and the session cancelled", ok, err, f.reg.Log())
	}
}

func TestSavedSessionResumesInANewProcess(t *testing.T) {
	reg := registrytest.New()
	reg.ChunkMin = 2000
	reg.DropPatchAfter = 1500 // inside the first 2000-byte chunk
	f := newFixture(t, reg, nil)
	state := t.TempDir()
	b, d := blob(8000)
	first := &Client{Keychain: anonymous, StateDir: state, MaxRetries: -1, ChunkSize: 1000}
	if _, err := first.Repo(f.repo, Push).PushBlob(context.Background(), d, opener(b), nil, nil); err == nil {
		t.Fatal("the first push survived the dropped connection without retries")
	}
	files, _ := filepath.Glob(filepath.Join(state, "uploads", "*", "acct", "model", "*.json"))
	if len(files) != 1 {
		t.Fatalf("saved sessions %q, want one", files)
	}
	second := &Client{Keychain: anonymous, StateDir: state, ChunkSize: 1000}
	if _, err := second.Repo(f.repo, Push).PushBlob(context.Background(), d, opener(b), nil, nil); err != nil {
		t.Fatal(err)
	}
	f.mustHave(t, "acct/model", b)
	if second.Stats.Resumed.Load() != 1 || second.Stats.BytesSent.Load() != 8000-1500 {
		t.Errorf("resumed %d, sent %d; want the session resumed at the registry's 1500 bytes", second.Stats.Resumed.Load(), second.Stats.BytesSent.Load())
	}
	// The saved chunk minimum held in the new process: 6500 bytes in
	// chunks of at least 2000 are 4 PATCHes, not 7.
	if n := reg.Count("PATCH"); n != 1+4 {
		t.Errorf("%d PATCHes; want the dropped one and 4 after", n)
	}
	if _, err := os.Stat(files[0]); !os.IsNotExist(err) {
		t.Errorf("the saved session outlived the upload: %v", err)
	}
}

func TestStalledRequestIsRetried(t *testing.T) {
	reg := registrytest.New()
	first := true
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead && first {
			first = false
			time.Sleep(300 * time.Millisecond)
		}
		return false
	}
	f := newFixture(t, reg, nil)
	f.c.StallTimeout = 50 * time.Millisecond
	b, d := blob(10)
	f.push(t, b, d)
	if f.c.Stats.Retries.Load() < 1 {
		t.Errorf("no retry after a stalled HEAD")
	}
}

func TestManifestsPutHeadGet(t *testing.T) {
	f := newFixture(t, registrytest.New(), nil)
	r := f.c.Repo(f.repo, Push)
	ctx := context.Background()
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if err := r.PutManifest(ctx, "v1", d, raw); err != nil {
		t.Fatal(err)
	}
	if err := r.PutManifest(ctx, d.Digest.String(), d, raw); err != nil {
		t.Fatal(err)
	}
	if n := f.reg.Count("PUT"); n != 1 {
		t.Errorf("%d PUTs; a manifest already there by digest is not sent again", n)
	}
	found, dig, err := r.HeadManifest(ctx, "v1", "")
	if !found || dig != d.Digest || err != nil {
		t.Errorf("HEAD v1: %v %s %v", found, dig, err)
	}
	if found, _, err := r.HeadManifest(ctx, "nope", ""); found || err != nil {
		t.Errorf("HEAD nope: %v %v", found, err)
	}
	got, mt, err := r.GetManifest(ctx, "v1", "")
	if !bytes.Equal(got, raw) || mt != d.MediaType || err != nil {
		t.Errorf("GET v1: %q %q %v", got, mt, err)
	}
	_, _, err = r.GetManifest(ctx, "nope", "")
	var te *transport.Error
	if StatusOf(err) != 404 || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN: manifest unknown") || !errors.As(err, &te) {
		t.Errorf("GET nope: %v; want the registry's words and a transport.Error", err)
	}
}

func TestGetBlobFromAnOffset(t *testing.T) {
	reg := registrytest.New()
	f := newFixture(t, reg, nil)
	b, d := blob(100)
	reg.PutBlob("acct/model", b)
	r := f.c.Repo(f.repo, Pull)
	for _, off := range []int64{0, 40} {
		rc, start, err := r.GetBlob(context.Background(), d.Digest, off)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if start != off || !bytes.Equal(got, b[off:]) {
			t.Errorf("offset %d: start %d, %d bytes", off, start, len(got))
		}
	}
	// A registry that ignores Range sends it all, from 0.
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		r.Header.Del("Range")
		return false
	}
	rc, start, err := r.GetBlob(context.Background(), d.Digest, 40)
	if err != nil || start != 0 {
		t.Fatalf("start %d, %v", start, err)
	}
	rc.Close()
	_, missing := blob(3)
	if _, _, err := r.GetBlob(context.Background(), missing.Digest, 0); StatusOf(err) != 404 || !strings.Contains(err.Error(), "BLOB_UNKNOWN") {
		t.Errorf("missing blob: %v", err)
	}
}

func TestHeadBlobRedirectMeansPresent(t *testing.T) {
	reg := registrytest.New()
	_, d := blob(5)
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/blobs/") {
			w.Header().Set("Location", "https://storage.invalid/signed")
			w.WriteHeader(http.StatusTemporaryRedirect)
			return true
		}
		return false
	}
	f := newFixture(t, reg, nil)
	if ok, err := f.c.Repo(f.repo, Pull).HeadBlob(context.Background(), d.Digest); !ok || err != nil {
		t.Errorf("HEAD answered with a redirect: %v, %v", ok, err)
	}
}

func TestErrorSaysWhatTheRegistrySaid(t *testing.T) {
	reg := registrytest.New()
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut {
			registrytest.WriteError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest invalid: layer blob unknown")
			return true
		}
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/plain") {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte("quota exceeded for acct\n"))
			return true
		}
		return false
	}
	f := newFixture(t, reg, nil)
	r := f.c.Repo(f.repo, Push)
	err := r.PutManifest(context.Background(), "v1", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest}, []byte("{}"))
	if err == nil || !strings.Contains(err.Error(), "PUT http://"+f.repo.RegistryStr()+"/v2/acct/model/manifests/v1: 400 Bad Request: MANIFEST_INVALID: manifest invalid: layer blob unknown") {
		t.Errorf("PUT error: %v", err)
	}
	_, _, err = r.GetManifest(context.Background(), "plain", "")
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden: quota exceeded for acct;") ||
		!strings.Contains(err.Error(), "docker login "+f.repo.RegistryStr()) || !Denied(err) || Retryable(err) {
		t.Errorf("GET error: %v", err)
	}
}

func TestUnreachableRegistryGivesUpWithinTheBudget(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := registrytest.Host(srv)
	srv.Close()
	repo, _ := ParseRepository(host + "/m")
	c := &Client{Keychain: anonymous, MaxRetries: 2, BackoffBase: time.Millisecond}
	_, err := c.Repo(repo, Pull).HeadBlob(context.Background(), digest.FromString("x"))
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 failed attempts") {
		t.Errorf("error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&Client{Keychain: anonymous}).Repo(repo, Pull).HeadBlob(ctx, digest.FromString("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// Two processes pushing one blob to one repository with one state
// directory: the second waits for the first's session instead of sending
// into it, then finds the blob there.
func TestConcurrentPushesOfOneBlobShareNoSession(t *testing.T) {
	reg := registrytest.New()
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch {
			time.Sleep(100 * time.Millisecond) // both pushes are in flight at once
		}
		return false
	}
	f := newFixture(t, reg, nil)
	state := t.TempDir()
	b, d := blob(6000)
	var wg sync.WaitGroup
	outcomes := make([]Outcome, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &Client{Keychain: anonymous, StateDir: state, ChunkSize: 1000}
			outcomes[i], errs[i] = c.Repo(f.repo, Push).PushBlob(context.Background(), d, opener(b), nil, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	f.mustHave(t, "acct/model", b)
	if slices.Sort(outcomes); outcomes[0] != Existed || outcomes[1] != Uploaded {
		t.Errorf("outcomes %v; want one upload and one that found the blob there", outcomes)
	}
	if n := reg.Count("POST"); n != 1 {
		t.Errorf("%d upload sessions opened, want 1", n)
	}
}

// A registry answering its /v2/ ping with 503 (or 429) for a while is
// retried like any other request, not taken for a plain-HTTP/TLS mismatch.
func TestPingUnavailableIsRetried(t *testing.T) {
	for _, code := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusInternalServerError} {
		reg := registrytest.New()
		var mu sync.Mutex
		left := 2
		reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
			mu.Lock()
			defer mu.Unlock()
			if r.URL.Path == "/v2/" && left > 0 {
				left--
				w.WriteHeader(code)
				return true
			}
			return false
		}
		f := newFixture(t, reg, nil)
		b, d := blob(3000)
		f.push(t, b, d)
		f.mustHave(t, "acct/model", b)
	}
}

// A plain-HTTP registry whose ping keeps failing is reported by its answer,
// not as a TLS problem.
func TestPingFailureOfAPlainHTTPRegistrySaysItsAnswer(t *testing.T) {
	reg := registrytest.New()
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	f := newFixture(t, reg, nil)
	f.c.MaxRetries = 1
	b, d := blob(100)
	_, err := f.c.Repo(f.repo, Push).PushBlob(context.Background(), d, opener(b), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "503") || strings.Contains(err.Error(), "TLS") {
		t.Fatalf("err = %v; want the registry's 503 and no TLS advice", err)
	}
}

// Content streamed unhashed (a weight layer read from its files) is checked
// by the registry at the commit: wrong bytes fail with a message saying the
// content changed, and the session is forgotten, so the next push of the
// right bytes starts over instead of committing the wrong ones again.
func TestWrongBytesFailAtCommitAndForgetTheSession(t *testing.T) {
	f := newFixture(t, registrytest.New(), nil)
	f.c.StateDir = t.TempDir()
	b, d := blob(2500)
	wrong := bytes.Clone(b)
	wrong[1234] ^= 1
	repo := f.c.Repo(f.repo, Push)
	_, err := repo.PushBlob(context.Background(), d, opener(wrong), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "content changed since its digest was recorded") || !strings.Contains(err.Error(), "DIGEST_INVALID") {
		t.Fatalf("push of wrong bytes: %v, want the registry's DIGEST_INVALID explained", err)
	}
	if _, err := os.Stat(repo.statePath(d.Digest)); !os.IsNotExist(err) {
		t.Fatalf("upload state %s survived a DIGEST_INVALID (stat: %v)", repo.statePath(d.Digest), err)
	}
	if out := f.push(t, b, d); out != Uploaded {
		t.Fatalf("push of the right bytes: %v, want Uploaded", out)
	}
}
