package materialize

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/internal/registry"
	"github.com/cog-frontend/cog-frontend/internal/registry/registrytest"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/pull"
	"github.com/cog-frontend/cog-frontend/weights/pull/pulltest"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

const repo = "acct/model"

var testPack = pack.Options{BundleFileMax: 4 << 10, BundleSizeMax: 8 << 10}

type env struct {
	reg    *registrytest.Registry
	src    pull.RegistrySource
	st     *store.Store
	root   string
	gets   atomic.Int64
	tamper atomic.Bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{reg: registrytest.New(), root: t.TempDir()}
	e.reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			e.gets.Add(1)
			if e.tamper.Load() && !strings.Contains(r.URL.Path, "config") {
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte("garbage that is no tar"))
				return true
			}
		}
		return false
	}
	srv := registrytest.Serve(t, e.reg)
	client := &registry.Client{BackoffBase: time.Millisecond, MaxRetries: 1}
	r, _ := registry.ParseRepository(registrytest.Host(srv) + "/" + repo)
	e.src = pull.RegistrySource{Client: client, Repo: client.Repo(r, registry.Pull)}
	var err error
	if e.st, err = store.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) resolve(t *testing.T, tag string) []pull.Weight {
	t.Helper()
	ws, err := pull.Resolve(context.Background(), e.src, tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func (e *env) deliver(t *testing.T, ws []pull.Weight) []Result {
	t.Helper()
	f := &pull.Fetcher{Store: e.st, Source: e.src}
	return Deliver(context.Background(), f, &Placer{Store: e.st, Root: e.root}, ws)
}

func v1files() map[string][]byte {
	return map[string][]byte{
		"config.json":       []byte(`{"a":1}`),
		"sub/vocab.txt":     bytes.Repeat([]byte("v\n"), 3000),
		"model.safetensors": bytes.Repeat([]byte{1, 2, 3}, 5000),
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, _ := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	return out
}

func TestDeliverPlacesHardLinksAndMarksReady(t *testing.T) {
	e := newEnv(t)
	files := v1files()
	w := pulltest.Weight("minilm", "/src/weights/minilm", files, testPack)
	pulltest.Publish(e.reg, repo, "v1", w)
	res := e.deliver(t, e.resolve(t, "v1"))
	if res[0].Outcome != OutcomePlaced || res[0].Err != nil {
		t.Fatalf("%+v", res[0])
	}
	dir := filepath.Join(e.root, "src/weights/minilm")
	got := readTree(t, dir)
	for p, b := range files {
		if got[p] != string(b) {
			t.Errorf("%s: wrong content", p)
		}
		fi, _ := os.Stat(filepath.Join(dir, p))
		sp, _ := e.st.Path(pack.Digest(b))
		if !sameFile(sp, fi) {
			t.Errorf("%s is not a hard link to the store", p)
		}
	}
	if _, ok := got[".cog/ready"]; !ok || len(got) != len(files)+1 {
		t.Fatalf("target holds %v, want the files and .cog/ready only", keys(got))
	}
	r, err := ReadReady(filepath.Join(dir, ".cog/ready"))
	if err != nil || r.SetDigest != w.SetDigest || r.Manifest != w.ManifestDigest().String() || len(r.Files) != len(files) {
		t.Fatalf("ready marker %+v %v", r, err)
	}
	// Already ready with the same set digest: no transfer, no relink.
	fi1, _ := os.Stat(filepath.Join(dir, "config.json"))
	ws := e.resolve(t, "v1")
	before := e.gets.Load()
	res = e.deliver(t, ws)
	if res[0].Outcome != OutcomeUnchanged {
		t.Fatalf("second delivery: %+v", res[0])
	}
	if e.gets.Load() != before {
		t.Errorf("%d blob GETs for a ready target", e.gets.Load()-before)
	}
	fi2, _ := os.Stat(filepath.Join(dir, "config.json"))
	if !os.SameFile(fi1, fi2) {
		t.Error("a ready target was relinked")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDeliverReplacesAnotherVersionInOneSwap(t *testing.T) {
	e := newEnv(t)
	v1 := v1files()
	pulltest.Publish(e.reg, repo, "v1", pulltest.Weight("m", "/src/w", v1, testPack))
	e.deliver(t, e.resolve(t, "v1"))
	v2 := map[string][]byte{"config.json": []byte(`{"a":2}`), "model.safetensors": v1["model.safetensors"]}
	w2 := pulltest.Weight("m", "/src/w", v2, testPack)
	pulltest.Publish(e.reg, repo, "v2", w2)
	res := e.deliver(t, e.resolve(t, "v2"))
	if res[0].Outcome != OutcomePlaced {
		t.Fatalf("%+v", res[0])
	}
	got := readTree(t, filepath.Join(e.root, "src/w"))
	if len(got) != 3 || got["config.json"] != `{"a":2}` {
		t.Fatalf("v2 target holds %v", keys(got))
	}
	if r, _ := ReadReady(filepath.Join(e.root, "src/w/.cog/ready")); r == nil || r.SetDigest != w2.SetDigest {
		t.Fatalf("ready marker %+v", r)
	}
	ents, _ := os.ReadDir(filepath.Join(e.root, "src"))
	if len(ents) != 1 {
		t.Errorf("left beside the target: %v", ents)
	}
}

func TestDeliverFailureWritesFailedMarkerAndNoFiles(t *testing.T) {
	e := newEnv(t)
	pulltest.Publish(e.reg, repo, "v1", pulltest.Weight("m", "/src/w", v1files(), testPack))
	ws := e.resolve(t, "v1")
	e.tamper.Store(true)
	res := e.deliver(t, ws)
	if res[0].Outcome != OutcomeFailed || res[0].Err == nil {
		t.Fatalf("%+v", res[0])
	}
	got := readTree(t, filepath.Join(e.root, "src/w"))
	if len(got) != 1 || !strings.Contains(got[".cog/failed"], "layer") {
		t.Fatalf("target after a failure holds %v", got)
	}
	// the next good run replaces the failure
	e.tamper.Store(false)
	ls, _ := filepath.Glob(filepath.Join(e.st.Root(), "downloads", "*"))
	t.Logf("downloads: %v", ls)
	res = e.deliver(t, ws)
	if res[0].Outcome != OutcomePlaced {
		t.Fatalf("%+v", res[0])
	}
	if got := readTree(t, filepath.Join(e.root, "src/w")); got[".cog/failed"] != "" || got[".cog/ready"] == "" {
		t.Fatalf("after recovery: %v", keys(got))
	}
}

func TestPlaceCopiesAcrossFileSystemsAndSaysSoOnce(t *testing.T) {
	e := newEnv(t)
	pulltest.Publish(e.reg, repo, "v1", pulltest.Weight("m", "/src/w", v1files(), testPack))
	ws := e.resolve(t, "v1")
	var notes []string
	p := &Placer{Store: e.st, Root: e.root, Notify: func(s string) { notes = append(notes, s) },
		linkFn: func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EXDEV} }}
	res := Deliver(context.Background(), &pull.Fetcher{Store: e.st, Source: e.src}, p, ws)
	if res[0].Outcome != OutcomePlaced {
		t.Fatalf("%+v", res[0])
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "copying") {
		t.Fatalf("notices %q", notes)
	}
	if got := readTree(t, filepath.Join(e.root, "src/w")); got["config.json"] != `{"a":1}` {
		t.Fatal("copy wrong")
	}
}

func TestPlaceRefusesSymlinkUnderRoot(t *testing.T) {
	e := newEnv(t)
	pulltest.Publish(e.reg, repo, "v1", pulltest.Weight("m", "/src/w", v1files(), testPack))
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(e.root, "src")); err != nil {
		t.Fatal(err)
	}
	res := e.deliver(t, e.resolve(t, "v1"))
	if res[0].Outcome != OutcomeFailed || !strings.Contains(res[0].Err.Error(), "symlink") {
		t.Fatalf("%+v", res[0])
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("written outside the destination: %v", ents)
	}
}

func TestDeliverFebruary2026BundleMarkersByManifestDigest(t *testing.T) {
	e := newEnv(t)
	m, layers := pulltest.V0(pulltest.V0File{Name: "model", Dest: "/src/weights/model.bin", Data: []byte("weights!")},
		pulltest.V0File{Name: "vocab", Dest: "/src/vocab.txt", Data: []byte("vocab")})
	for _, l := range layers {
		e.reg.PutBlob(repo, l)
	}
	md := e.reg.PutManifest(repo, "w", "application/vnd.oci.image.manifest.v1+json", m)
	ws := e.resolve(t, "w")
	res := e.deliver(t, ws)
	if res[0].Outcome != OutcomePlaced {
		t.Fatalf("%+v", res[0])
	}
	got := readTree(t, e.root)
	if got["src/weights/model.bin"] != "weights!" || got["src/vocab.txt"] != "vocab" {
		t.Fatalf("root holds %v", keys(got))
	}
	if _, ok := got[".cog/bundle-v0/"+md.Encoded()+"/ready"]; !ok {
		t.Fatalf("no ready marker keyed by the manifest digest: %v", keys(got))
	}
	if res := e.deliver(t, ws); res[0].Outcome != OutcomeUnchanged {
		t.Fatalf("second v0 delivery: %+v", res[0])
	}
}

func TestFailWithoutPriorPlace(t *testing.T) {
	root := t.TempDir()
	p := &Placer{Root: root}
	w := pull.Weight{Name: "x", Format: pull.FormatV1, Target: "/a/b"}
	if err := p.Fail(w, errors.New("boom")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "a/b/.cog/failed"))
	if string(b) != "boom\n" {
		t.Fatalf("failed marker %q", b)
	}
}
