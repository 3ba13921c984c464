package pull_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cog-frontend/cog-frontend/internal/registry"
	"github.com/cog-frontend/cog-frontend/internal/registry/registrytest"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/pull"
	"github.com/cog-frontend/cog-frontend/weights/pull/pulltest"
	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/cog-frontend/cog-frontend/wire"
)

const repo = "acct/model"

// small packing thresholds, so a few KiB of test data make several layers
var testPack = pack.Options{BundleFileMax: 4 << 10, BundleSizeMax: 8 << 10}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testFiles() map[string][]byte {
	return map[string][]byte{
		"config.json":             []byte(`{"hidden":8}`),
		"tokenizer/vocab.txt":     bytes.Repeat([]byte("word\n"), 500),
		"model.safetensors":       randBytes(1, 300<<10),
		"extra/large-text.txt":    bytes.Repeat([]byte("abc"), 3000),
		"tokenizer/merges.txt":    []byte("a b\n"),
		"nested/deep/weights.bin": randBytes(2, 20<<10),
	}
}

type env struct {
	reg    *registrytest.Registry
	client *registry.Client
	src    pull.RegistrySource
	st     *store.Store
	gets   atomic.Int64 // blob GETs
	ranges atomic.Int64 // blob GETs with a Range header
	mu     sync.Mutex
	hook   func(w http.ResponseWriter, r *http.Request) bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{reg: registrytest.New()}
	e.reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			e.gets.Add(1)
			if r.Header.Get("Range") != "" {
				e.ranges.Add(1)
			}
		}
		e.mu.Lock()
		h := e.hook
		e.mu.Unlock()
		return h != nil && h(w, r)
	}
	srv := registrytest.Serve(t, e.reg)
	e.client = &registry.Client{BackoffBase: time.Millisecond, StallTimeout: 300 * time.Millisecond}
	r, err := registry.ParseRepository(registrytest.Host(srv) + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	e.src = pull.RegistrySource{Client: e.client, Repo: e.client.Repo(r, registry.Pull)}
	e.st, err = store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	e.mu.Lock()
	e.hook = h
	e.mu.Unlock()
}

func (e *env) fetcher() *pull.Fetcher {
	return &pull.Fetcher{Store: e.st, Source: e.src, Jobs: 3, RangeMin: 64 << 10, RangeChunk: 32 << 10, RangeJobs: 3}
}

func checkStored(t *testing.T, st *store.Store, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		f, err := st.Open(digest.FromBytes(b).String())
		if err != nil {
			t.Fatalf("%s not in the store: %v", p, err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(got, b) {
			t.Fatalf("%s: stored bytes differ", p)
		}
	}
}

func fetchAll(t *testing.T, f *pull.Fetcher, ws []pull.Weight) {
	t.Helper()
	for i, err := range f.Fetch(context.Background(), ws) {
		if err != nil {
			t.Fatalf("%s: %v", ws[i], err)
		}
	}
}

func TestPullBundleIndexFillsStoreAndSkipsStoredFiles(t *testing.T) {
	e := newEnv(t)
	files := testFiles()
	w := pulltest.Weight("minilm", "/src/weights/minilm", files, testPack)
	other := pulltest.Weight("other", "/src/weights/other", map[string][]byte{"config.json": files["config.json"], "o.txt": []byte("o")}, testPack)
	pulltest.Publish(e.reg, repo, "v1", w, other)

	ws, err := pull.Resolve(context.Background(), e.src, "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].Name != "minilm" || ws[0].Target != "/src/weights/minilm" || ws[0].SetDigest != w.SetDigest || ws[0].Manifest != w.ManifestDigest() {
		t.Fatalf("resolved %+v", ws)
	}
	if len(ws[0].Layers) < 3 {
		t.Fatalf("test data should make several layers, got %d", len(ws[0].Layers))
	}
	f := e.fetcher()
	fetchAll(t, f, ws)
	checkStored(t, e.st, files)
	if got := f.Stats.LayersFetched.Load(); got != int64(len(ws[0].Layers)+len(ws[1].Layers)) {
		t.Errorf("fetched %d layers", got)
	}
	if e.ranges.Load() == 0 {
		t.Error("the large layer was not fetched as range requests")
	}
	// no partial download is left behind
	if left, _ := filepath.Glob(filepath.Join(e.st.Root(), "downloads", "*")); len(left) != 0 {
		t.Errorf("left in downloads: %v", left)
	}

	before := e.gets.Load()
	f2 := e.fetcher()
	fetchAll(t, f2, ws)
	if e.gets.Load() != before || f2.Stats.BytesFetched.Load() != 0 {
		t.Fatalf("a second fetch downloaded %d blobs, %d bytes; the files were all in the store", e.gets.Load()-before, f2.Stats.BytesFetched.Load())
	}
}

func TestPullSelectsByNameAndResolvesWeightTagAndDigest(t *testing.T) {
	e := newEnv(t)
	a := pulltest.Weight("a", "/src/a", map[string][]byte{"x": []byte("x")}, testPack)
	b := pulltest.Weight("b", "/src/b", map[string][]byte{"y": []byte("y")}, testPack)
	pulltest.Publish(e.reg, repo, "v1", a, b)
	ctx := context.Background()
	ws, err := pull.Resolve(ctx, e.src, "v1", []string{"b"})
	if err != nil || len(ws) != 1 || ws[0].Name != "b" {
		t.Fatalf("select b: %v %+v", err, ws)
	}
	if _, err := pull.Resolve(ctx, e.src, "v1", []string{"nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown name: %v", err)
	}
	for _, ref := range []string{wire.WeightTag("a", a.SetDigest), a.ManifestDigest().String()} {
		ws, err := pull.Resolve(ctx, e.src, ref, nil)
		if err != nil || len(ws) != 1 || ws[0].Name != "a" {
			t.Fatalf("%s: %v %+v", ref, err, ws)
		}
	}
	ws, err = pull.ResolveDigests(ctx, e.src, []string{b.ManifestDigest().String()})
	if err != nil || len(ws) != 1 || ws[0].Name != "b" {
		t.Fatalf("by lock digest: %v %+v", err, ws)
	}
}

func TestPullFebruary2026Bundle(t *testing.T) {
	e := newEnv(t)
	m, layers := pulltest.V0(pulltest.V0File{Name: "model", Dest: "/src/weights/model.bin", Data: randBytes(3, 100<<10)},
		pulltest.V0File{Name: "vocab", Dest: "/src/weights/vocab.txt", Data: []byte("hello")})
	for _, l := range layers {
		e.reg.PutBlob(repo, l)
	}
	md := e.reg.PutManifest(repo, "", "application/vnd.oci.image.manifest.v1+json", m)
	idx := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`+
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":10,"platform":{"architecture":"amd64","os":"linux"}},`+
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"platform":{"architecture":"unknown","os":"unknown"},`+
		`"annotations":{"vnd.cog.reference.type":"weights","vnd.cog.reference.digest":"sha256:%s"}}]}`,
		digest.FromString("img"), md, len(m), strings.Repeat("0", 64))
	e.reg.PutManifest(repo, "old", "application/vnd.oci.image.index.v1+json", []byte(idx))
	ws, err := pull.Resolve(context.Background(), e.src, "old", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Format != pull.FormatV0 || len(ws[0].Files) != 2 || ws[0].Files[0].Path != "/src/weights/model.bin" {
		t.Fatalf("resolved %+v", ws)
	}
	fetchAll(t, e.fetcher(), ws)
	if !e.st.Has(ws[0].Files[0].Digest) || !e.st.Has(ws[0].Files[1].Digest) {
		t.Fatal("v0 files not stored")
	}
	sel, err := pull.Select(ws, []string{"vocab"})
	if err != nil || len(sel[0].Files) != 1 || len(sel[0].Layers) != 1 {
		t.Fatalf("select vocab: %v %+v", err, sel)
	}
}

// bigWeight is one large raw layer (the resume and range cases).
func bigWeight(e *env) (pulltest.Built, pull.Weight, []byte) {
	data := randBytes(7, 512<<10)
	w := pulltest.Weight("big", "/src/big", map[string][]byte{"model.safetensors": data}, testPack)
	pulltest.Publish(e.reg, repo, "v1", w)
	ws, err := pull.Resolve(context.Background(), e.src, "v1", nil)
	if err != nil {
		panic(err)
	}
	return w, ws[0], data
}

func TestPullResumesAnInterruptedLayerWithARangeRequest(t *testing.T) {
	e := newEnv(t)
	built, w, data := bigWeight(e)
	var layer []byte
	for _, l := range built.Layers {
		layer = l
	}
	half := int64(len(layer) / 2)
	// First run: the registry drops the connection halfway, and the client
	// has no retries left, as if the process died.
	var dropped atomic.Bool
	e.setHook(func(rw http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, w.Layers[0].Digest.String()) || dropped.Swap(true) {
			return false
		}
		rw.Header().Set("Content-Length", strconv.Itoa(len(layer)))
		rw.WriteHeader(http.StatusOK)
		_, _ = rw.Write(layer[:half])
		rw.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	e.client.MaxRetries = -1
	f := e.fetcher()
	f.RangeJobs = 1 // one stream, so the cut is at a known offset
	errs := f.Fetch(context.Background(), []pull.Weight{w})
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "run the pull again") {
		t.Fatalf("interrupted pull: %v", errs[0])
	}
	if e.st.Has(w.Files[0].Digest) || e.st.Has(w.Layers[0].Digest.String()) {
		t.Fatal("an unverified file is visible in the store")
	}
	first := f.Stats.BytesFetched.Load()
	if first < half/2 {
		t.Fatalf("first run kept only %d bytes", first)
	}
	var rangeHdr atomic.Value
	e.setHook(func(rw http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, w.Layers[0].Digest.String()) {
			rangeHdr.Store(r.Header.Get("Range"))
		}
		return false
	})
	f2 := e.fetcher()
	f2.RangeJobs = 1
	fetchAll(t, f2, []pull.Weight{w})
	checkStored(t, e.st, map[string][]byte{"model.safetensors": data})
	if got, _ := rangeHdr.Load().(string); got != fmt.Sprintf("bytes=%d-%d", first, len(layer)-1) {
		t.Errorf("second run asked for %q, want the rest from byte %d", got, first)
	}
	total := first + f2.Stats.BytesFetched.Load()
	if total > int64(len(layer))*11/10 {
		t.Errorf("bytes over the wire across both runs: %d for a %d byte layer", total, len(layer))
	}
	if f2.Stats.BytesResumed.Load() != first {
		t.Errorf("resumed %d bytes, want %d", f2.Stats.BytesResumed.Load(), first)
	}
}

func TestPullRetriesAStalledTransfer(t *testing.T) {
	for _, rjobs := range []int{1, 3} {
		t.Run(fmt.Sprintf("range-jobs-%d", rjobs), func(t *testing.T) {
			e := newEnv(t)
			built, w, data := bigWeight(e)
			layer := built.Layers[w.Layers[0].Digest]
			var stalled atomic.Bool
			e.setHook(func(rw http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, w.Layers[0].Digest.String()) || stalled.Swap(true) {
					return false
				}
				rw.Header().Set("Content-Length", "1000000")
				rw.WriteHeader(http.StatusOK)
				_, _ = rw.Write(layer[:10])
				rw.(http.Flusher).Flush()
				<-r.Context().Done() // sends nothing more
				return true
			})
			f := e.fetcher()
			f.RangeJobs = rjobs
			start := time.Now()
			fetchAll(t, f, []pull.Weight{w})
			checkStored(t, e.st, map[string][]byte{"f": data})
			if e.client.Stats.Retries.Load() == 0 {
				t.Error("no retry counted")
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
}

func TestPullRefusesTamperedAndTruncatedBlobs(t *testing.T) {
	for _, c := range []struct {
		name   string
		mangle func([]byte) []byte
		want   string
	}{
		{"tampered", func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 0xff; return b }, "expected"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-700] }, "giving up"},
		{"end of archive changed", func(b []byte) []byte { b = bytes.Clone(b); b[len(b)-1] ^= 1; return b }, "invalid tar header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			built, w, _ := bigWeight(e)
			layer := built.Layers[w.Layers[0].Digest]
			bad := c.mangle(layer)
			e.setHook(func(rw http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, w.Layers[0].Digest.String()) {
					return false
				}
				rw.Header().Set("Content-Length", strconv.Itoa(len(bad)))
				rw.WriteHeader(http.StatusOK)
				_, _ = rw.Write(bad)
				return true
			})
			e.client.MaxRetries = 2
			f := e.fetcher()
			f.RangeJobs = 1
			errs := f.Fetch(context.Background(), []pull.Weight{w})
			if errs[0] == nil || !strings.Contains(errs[0].Error(), c.want) {
				t.Fatalf("got %v, want an error mentioning %q", errs[0], c.want)
			}
			if e.st.Has(w.Files[0].Digest) && c.name == "tampered" {
				t.Fatal("a tampered file entered the store")
			}
			if c.name != "truncated" {
				if left, _ := filepath.Glob(filepath.Join(e.st.Root(), "downloads", "*")); len(left) != 0 {
					t.Errorf("bad bytes kept for a resume: %v", left)
				}
			}
			if ing, _ := os.ReadDir(filepath.Join(e.st.Root(), "ingest")); len(ing) != 0 {
				t.Errorf("ingest files left: %d", len(ing))
			}
		})
	}
}

func TestPullFromOCILayout(t *testing.T) {
	dir := t.TempDir()
	files := testFiles()
	w := pulltest.Weight("minilm", "/src/weights/minilm", files, testPack)
	put := func(b []byte) {
		d := digest.FromBytes(b)
		p := filepath.Join(dir, "blobs", "sha256", d.Encoded())
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range w.Layers {
		put(l)
	}
	put(w.Config)
	put(w.Manifest)
	idx := pulltest.Index(w)
	put(idx)
	st, _ := store.Open(t.TempDir())
	src := pull.LayoutSource{Dir: dir}
	ws, err := pull.Resolve(context.Background(), src, digest.FromBytes(idx).String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fetchAll(t, &pull.Fetcher{Store: st, Source: src}, ws)
	checkStored(t, st, files)
	if _, err := pull.Resolve(context.Background(), src, "v1", nil); err == nil {
		t.Error("a tag resolved in a layout source")
	}
}

func TestPullCancelledKeepsThePartialForTheNextRun(t *testing.T) {
	e := newEnv(t)
	data := randBytes(11, 6<<20)
	pulltest.Publish(e.reg, repo, "v1", pulltest.Weight("big", "/src/big", map[string][]byte{"model.safetensors": data}, testPack))
	ws, err := pull.Resolve(context.Background(), e.src, "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := e.fetcher()
	f.RangeJobs = 1
	f.Events = func(ev pull.Event) { // Ctrl-C once 4 MiB have arrived
		if ev.Kind == pull.EventProgress {
			cancel()
		}
	}
	errs := f.Fetch(ctx, ws)
	if errs[0] == nil {
		t.Fatal("a cancelled pull succeeded")
	}
	left, _ := filepath.Glob(filepath.Join(e.st.Root(), "downloads", "*.partial"))
	if len(left) != 1 {
		t.Fatalf("partial downloads after Ctrl-C: %v", left)
	}
	f2 := e.fetcher()
	fetchAll(t, f2, ws)
	checkStored(t, e.st, map[string][]byte{"f": data})
	if f2.Stats.BytesResumed.Load() < 4<<20 {
		t.Errorf("the second run kept %d bytes", f2.Stats.BytesResumed.Load())
	}
	if f2.Stats.BytesResumed.Load()+f2.Stats.BytesFetched.Load() > int64(len(data))+64<<10 {
		t.Errorf("resumed %d + fetched %d for a %d byte file", f2.Stats.BytesResumed.Load(), f2.Stats.BytesFetched.Load(), len(data))
	}
}

// A config blob whose connection drops mid-body is read again, not a
// failed resolve.
func TestResolveRetriesAConfigBlobCutMidBody(t *testing.T) {
	e := newEnv(t)
	pulltest.Publish(e.reg, repo, "v1", pulltest.Weight("m", "/src/m", testFiles(), testPack))
	var cut atomic.Bool
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/sha256:") || !cut.CompareAndSwap(false, true) {
			return false
		}
		w.Header().Set("Content-Length", "4096")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"partial":`))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	ws, err := pull.Resolve(context.Background(), e.src, "v1", nil)
	if err != nil || len(ws) != 1 || !cut.Load() {
		t.Fatalf("resolve after a cut config blob: %v (%d weights, cut %v)", err, len(ws), cut.Load())
	}
}
