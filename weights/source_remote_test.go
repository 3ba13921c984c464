package weights

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// fakeHub serves the subset of the Hugging Face Hub HTTP API that listHF
// uses (revision -> commit, paginated recursive tree, resolve). The real Hub
// is unreachable from this project's machines, so the test runs against
// this local server through HF_ENDPOINT.
type fakeHub struct {
	commit   string
	files    map[string][]byte
	lfs      map[string]bool // served with an lfs.oid in the tree
	resolves atomic.Int64
	token    string
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.token != "" && r.Header.Get("Authorization") != "Bearer "+h.token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == "/api/models/org/repo/revision/main":
		json.NewEncoder(w).Encode(map[string]string{"sha": h.commit})
	case r.URL.Path == "/api/models/org/repo/tree/"+h.commit:
		var all []map[string]any
		for p, b := range h.files {
			e := map[string]any{"type": "file", "path": p, "size": len(b)}
			if h.lfs[p] {
				e["lfs"] = map[string]any{"oid": strings.TrimPrefix(sha(b), "sha256:"), "size": len(b)}
			}
			all = append(all, e)
		}
		all = append(all, map[string]any{"type": "directory", "path": "sub"})
		sort.Slice(all, func(i, j int) bool { return all[i]["path"].(string) < all[j]["path"].(string) })
		// Two pages, linked as the Hub does.
		if r.URL.Query().Get("cursor") == "" {
			w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?recursive=true&cursor=2>; rel="next"`, r.Host, r.URL.Path))
			json.NewEncoder(w).Encode(all[:len(all)/2])
		} else {
			json.NewEncoder(w).Encode(all[len(all)/2:])
		}
	case strings.HasPrefix(r.URL.Path, "/org/repo/resolve/"+h.commit+"/"):
		h.resolves.Add(1)
		b, ok := h.files[strings.TrimPrefix(r.URL.Path, "/org/repo/resolve/"+h.commit+"/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

func TestHFSourceThroughHubAPI(t *testing.T) {
	hub := &fakeHub{
		commit: strings.Repeat("ab", 20),
		files: map[string][]byte{
			"config.json":           []byte(`{"a": 1}`),
			"sub/tokenizer.json":    bytes.Repeat([]byte("tok "), 500),
			"model.safetensors":     bytes.Repeat([]byte{1, 2, 3}, 1000),
			"sub/deeper/extra.json": []byte(`{}`),
		},
		lfs:   map[string]bool{"model.safetensors": true},
		token: "secret",
	}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_TOKEN", "secret")

	p := newProject(t, nil)
	p.cfg.Weights[0].Sources = []config.WeightSource{{URI: "huggingface://org/repo@main", Exclude: []string{"sub/deeper/"}}}
	r := p.imp(t, nil)
	if r.Weights[0].Status != StatusNew {
		t.Fatalf("%+v", r.Weights[0])
	}
	l, _ := p.lock(t)
	w := l.Weights[0]
	if w.Sources[0].URI != "hf://org/repo" || w.Sources[0].Fingerprint != "commit:"+hub.commit {
		t.Fatalf("source %+v", w.Sources[0])
	}
	var files []pack.File
	for _, path := range []string{"config.json", "model.safetensors", "sub/tokenizer.json"} {
		files = append(files, pack.File{Path: path, Digest: sha(hub.files[path])})
	}
	if len(w.Files) != 3 || w.SetDigest != pack.SetDigest(files) {
		t.Fatalf("files %+v, set digest %s want %s", w.Files, w.SetDigest, pack.SetDigest(files))
	}

	// Same commit: nothing is downloaded, the entry is unchanged.
	before := hub.resolves.Load()
	r = p.imp(t, nil)
	if r.Weights[0].Status != StatusUnchanged || r.LockWritten || hub.resolves.Load() != before {
		t.Fatalf("re-import at the same commit: %+v, %d downloads", r.Weights[0], hub.resolves.Load()-before)
	}

	// Publishing from an empty store downloads and verifies the files.
	arts, err := Artifacts(context.Background(), ArtifactsOptions{ProjectDir: p.dir, Config: p.cfg, Store: mustStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range arts[0].Layers {
		rc, err := b.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		d, _, err := pack.HashReader(rc)
		rc.Close()
		if err != nil || d != string(b.Descriptor.Digest) {
			t.Fatalf("layer %s: got %s, %v", b.Descriptor.Digest, d, err)
		}
	}

	// A new commit upstream is upstream-changed.
	hub.commit = strings.Repeat("cd", 20)
	hub.files["config.json"] = []byte(`{"a": 2}`)
	if r = p.imp(t, nil); r.Weights[0].Status != StatusUpstreamChanged {
		t.Fatalf("after a new commit: %+v", r.Weights[0])
	}

	t.Setenv("HF_TOKEN", "wrong")
	_, err = Import(context.Background(), p.importOpts())
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Fatalf("bad token: %v", err)
	}
}

func mustStore(t *testing.T) *store.Store {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// fileServer serves one file with a strong ETag and Range support, and
// cuts the first download after half the body to exercise resumption.
type fileServer struct {
	body   []byte
	etag   string
	cut    atomic.Bool
	ranges atomic.Int64
}

func (s *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("ETag", `"`+s.etag+`"`)
	start := 0
	if rg := r.Header.Get("Range"); rg != "" && r.Header.Get("If-Range") == `"`+s.etag+`"` {
		s.ranges.Add(1)
		start, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(s.body)-1, len(s.body)))
		w.Header().Set("Content-Length", strconv.Itoa(len(s.body)-start))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(s.body)))
	}
	if r.Method == http.MethodHead {
		return
	}
	if s.cut.CompareAndSwap(false, true) {
		w.Write(s.body[start : len(s.body)/2])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	w.Write(s.body[start:])
}

func TestHTTPSSourceResumesAndUsesETag(t *testing.T) {
	fs := &fileServer{body: bytes.Repeat([]byte("weights!"), 300000), etag: "v1"}
	srv := httptest.NewTLSServer(fs)
	defer srv.Close()
	old := httpClient
	httpClient = srv.Client()
	defer func() { httpClient = old }()

	p := newProject(t, nil)
	p.cfg.Weights[0].Sources = []config.WeightSource{{URI: srv.URL + "/files/model.bin"}}
	p.imp(t, nil)
	if fs.ranges.Load() != 1 {
		t.Fatalf("the cut download was not resumed with a Range request (%d)", fs.ranges.Load())
	}
	l, _ := p.lock(t)
	w := l.Weights[0]
	if w.Sources[0].Fingerprint != "etag:v1" || len(w.Files) != 1 || w.Files[0].Path != "model.bin" || w.Files[0].Digest != sha(fs.body) {
		t.Fatalf("entry %+v", w)
	}
	if r := p.imp(t, nil); r.Weights[0].Status != StatusUnchanged || r.LockWritten {
		t.Fatalf("same ETag: %+v", r.Weights[0])
	}
	fs.body = append(fs.body, '!')
	fs.etag = "v2"
	if r := p.imp(t, nil); r.Weights[0].Status != StatusUpstreamChanged {
		t.Fatalf("new ETag: %+v", r.Weights[0])
	}
	if got := filepath.Base(p.lockPath()); got != "weights.lock" {
		t.Fatal(got)
	}
}

// sha is the digest of b, as the tests spell expected values.
func sha(b []byte) string { return pack.Digest(b) }
