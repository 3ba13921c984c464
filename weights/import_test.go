package weights

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/internal/weightgen"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/cog-frontend/cog-frontend/wire"
)

var past = time.Now().Add(-time.Hour)

// writeTree writes files and backdates them, as files a user has not
// touched in the last second (see racyWindow).
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(full, past, past); err != nil {
			t.Fatal(err)
		}
	}
}

type project struct {
	dir   string
	cfg   *config.Config
	store *store.Store
	clock int
}

func newProject(t *testing.T, files map[string]string) *project {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "weights", "minilm"), files)
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &project{dir: dir, store: st, cfg: &config.Config{
		Model: "registry.example.com/acct/m",
		Weights: []config.Weight{{Name: "minilm", Target: "/src/weights/minilm",
			Sources: []config.WeightSource{{URI: "weights/minilm"}}}},
	}}
}

func (p *project) lockPath() string { return filepath.Join(p.dir, "weights.lock") }

func (p *project) importOpts() ImportOptions {
	return ImportOptions{ProjectDir: p.dir, Config: p.cfg, Store: p.store, Now: func() time.Time {
		p.clock++
		return time.Date(2026, 6, 12, 16, 41, p.clock, 0, time.UTC)
	}}
}

func (p *project) imp(t *testing.T, mod func(*ImportOptions)) *ImportResult {
	t.Helper()
	o := p.importOpts()
	if mod != nil {
		mod(&o)
	}
	r, err := Import(context.Background(), o)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return r
}

func (p *project) lock(t *testing.T) (*config.Lock, []byte) {
	t.Helper()
	l, b, err := readLock(p.lockPath())
	if err != nil || b == nil {
		t.Fatalf("read lock: %v (exists: %v)", err, b != nil)
	}
	return l, b
}

var minilm = map[string]string{
	"config.json":          `{"hidden_size": 384}`,
	"tokenizer/vocab.txt":  strings.Repeat("hello\n", 100),
	"onnx/model.onnx":      "onnx-bytes",
	".cog/ready":           "reserved, never packed",
	"nested/.cog/x":        "reserved too",
	"tokenizer/merges.txt": "a b\n",
}

func TestImportNewThenUnchangedReadsNothing(t *testing.T) {
	p := newProject(t, minilm)
	r := p.imp(t, nil)
	if !r.LockWritten || len(r.Weights) != 1 || r.Weights[0].Status != StatusNew {
		t.Fatalf("first import: %+v", r)
	}
	l, b1 := p.lock(t)
	w := l.Weights[0]
	if l.EnvelopeFormat != wire.EnvelopeFormat || w.Name != "minilm" || len(w.Files) != 4 || w.ImportedAt != "2026-06-12T16:41:01Z" {
		t.Fatalf("lock entry: %+v", w)
	}
	for _, f := range w.Files {
		if strings.Contains(f.Path, ".cog") {
			t.Fatalf(".cog content packed: %s", f.Path)
		}
	}
	if w.Sources[0].URI != "file://./weights/minilm" || w.Sources[0].Fingerprint != w.SetDigest {
		t.Fatalf("source: %+v (an unfiltered local source's fingerprint is its set digest)", w.Sources[0])
	}

	before := fileOpens.Load()
	r = p.imp(t, nil)
	if r.LockWritten || r.Weights[0].Status != StatusUnchanged {
		t.Fatalf("second import: %+v", r)
	}
	if n := fileOpens.Load() - before; n != 0 {
		t.Fatalf("unchanged re-import opened %d files, want 0 (stat cache)", n)
	}
	_, b2 := p.lock(t)
	if !bytes.Equal(b1, b2) {
		t.Fatalf("lock bytes changed on an unchanged import")
	}
}

// A lock in Cog's layout (json.MarshalIndent, no trailing newline) with the
// same content is accepted as is, not rewritten.
func TestImportKeepsEquivalentCogFormattedLock(t *testing.T) {
	p := newProject(t, minilm)
	p.imp(t, nil)
	_, b := p.lock(t)
	cogStyle := bytes.TrimRight(b, "\n")
	if err := os.WriteFile(p.lockPath(), cogStyle, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := p.imp(t, nil); r.LockWritten {
		t.Fatalf("rewrote an equivalent lock")
	}
	if _, b2 := p.lock(t); !bytes.Equal(b2, cogStyle) {
		t.Fatalf("lock bytes changed")
	}
}

func TestImportUpstreamAndConfigChanges(t *testing.T) {
	p := newProject(t, minilm)
	p.imp(t, nil)
	l1, _ := p.lock(t)

	writeTree(t, filepath.Join(p.dir, "weights/minilm"), map[string]string{"config.json": `{"hidden_size": 768}`})
	before := fileOpens.Load()
	r := p.imp(t, nil)
	if r.Weights[0].Status != StatusUpstreamChanged || !r.LockWritten {
		t.Fatalf("after edit: %+v", r.Weights[0])
	}
	// config.json is hashed (its stat changed), found different, and the
	// bundle holding it is rebuilt: 1 + the bundle's 4 files.
	if n := fileOpens.Load() - before; n != 5 {
		t.Fatalf("opened %d files, want 5", n)
	}
	l2, _ := p.lock(t)
	if l2.Weights[0].Digest == l1.Weights[0].Digest || l2.Weights[0].ImportedAt == l1.Weights[0].ImportedAt {
		t.Fatalf("entry not updated")
	}

	p.cfg.Weights[0].Sources[0].Exclude = []string{"onnx/"}
	r = p.imp(t, func(o *ImportOptions) { o.DryRun = true })
	if r.Weights[0].Status != StatusConfigChanged || r.LockWritten || !strings.Contains(r.Weights[0].Reason, "exclude") {
		t.Fatalf("dry run: %+v", r)
	}
	if _, b := p.lock(t); !strings.Contains(string(b), "onnx/model.onnx") {
		t.Fatalf("dry run changed the lock")
	}
	p.imp(t, nil)
	l3, _ := p.lock(t)
	w := l3.Weights[0]
	if len(w.Files) != 3 || w.Sources[0].Fingerprint == w.SetDigest {
		t.Fatalf("filtered import: %d files; fingerprint must cover the unfiltered source", len(w.Files))
	}
}

// A fresh clone has a weights.lock but no stat cache: files are hashed
// once and every layer still matching the lock is reused, not repacked.
func TestImportWithColdStatCacheReusesLockedLayers(t *testing.T) {
	p := newProject(t, minilm)
	p.imp(t, nil)
	_, b1 := p.lock(t)
	p.store = mustStore(t) // another machine: empty store and stat cache
	r := p.imp(t, nil)
	if r.Weights[0].Status != StatusUnchanged || r.Weights[0].PackedLayers != 0 || r.LockWritten {
		t.Fatalf("%+v", r.Weights[0])
	}
	if _, b2 := p.lock(t); !bytes.Equal(b1, b2) {
		t.Fatalf("lock changed")
	}
}

func TestImportDropsOrphansAndKeepsOrder(t *testing.T) {
	p := newProject(t, minilm)
	writeTree(t, filepath.Join(p.dir, "weights/other"), map[string]string{"a.json": "{}"})
	p.cfg.Weights = append([]config.Weight{{Name: "other", Target: "/src/weights/other",
		Sources: []config.WeightSource{{URI: "file://./weights/other"}}}}, p.cfg.Weights...)
	p.imp(t, nil)
	l, _ := p.lock(t)
	if l.Weights[0].Name != "other" || l.Weights[1].Name != "minilm" {
		t.Fatalf("lock not in cog.yaml order")
	}
	p.cfg.Weights = p.cfg.Weights[1:]
	r := p.imp(t, nil)
	if len(r.Weights) != 2 || r.Weights[1].Status != StatusRemoved {
		t.Fatalf("%+v", r.Weights)
	}
	l, _ = p.lock(t)
	if len(l.Weights) != 1 || l.Weights[0].Name != "minilm" {
		t.Fatalf("orphan kept")
	}
}

func TestMultiSourceLaterWins(t *testing.T) {
	p := newProject(t, map[string]string{"config.json": "first", "a.txt": "a"})
	writeTree(t, filepath.Join(p.dir, "weights/extra"), map[string]string{"config.json": "second", "b.json": "b", "skip.txt": "x"})
	p.cfg.Weights[0].Sources = append(p.cfg.Weights[0].Sources, config.WeightSource{URI: "weights/extra", Include: []string{"*.json"}})
	r := p.imp(t, nil)
	if len(r.Weights[0].Notices) != 1 || !strings.Contains(r.Weights[0].Notices[0], "config.json") {
		t.Fatalf("notices: %v", r.Weights[0].Notices)
	}
	l, _ := p.lock(t)
	var paths []string
	for _, f := range l.Weights[0].Files {
		paths = append(paths, f.Path)
		if f.Path == "config.json" && f.Digest != sha([]byte("second")) {
			t.Fatalf("config.json is not the later source's")
		}
	}
	if strings.Join(paths, ",") != "a.txt,b.json,config.json" {
		t.Fatalf("files %v", paths)
	}
}

// Walk order, directory and creation order must not change any digest.
func TestImportDeterministicAcrossDirs(t *testing.T) {
	var digests []string
	for i := range 2 {
		p := newProject(t, nil)
		spec := weightgen.Spec{Seed: 7, LargeFiles: 2, LargeMin: 3000, LargeMax: 5000, SmallFiles: 40, SmallMin: 10, SmallMax: 900, MaxDepth: 3}
		if i == 1 {
			spec.SmallFiles = 40 // same spec, different directory and store
		}
		if _, err := weightgen.Generate(filepath.Join(p.dir, "weights/minilm"), spec); err != nil {
			t.Fatal(err)
		}
		p.imp(t, func(o *ImportOptions) { o.Pack = pack.Options{BundleFileMax: 2000, BundleSizeMax: 4000} })
		l, b := p.lock(t)
		digests = append(digests, l.Weights[0].Digest+" "+l.Weights[0].SetDigest+" "+hexSum(b[:bytes.Index(b, []byte(`"importedAt"`))]))
	}
	if digests[0] != digests[1] {
		t.Fatalf("digests differ between runs:\n%s\n%s", digests[0], digests[1])
	}
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestArtifactsStreamExactBytes(t *testing.T) {
	p := newProject(t, nil)
	// One file at the 64 MiB threshold gets a raw layer, re-streamed from
	// the user's file; the small ones form a gzip bundle kept in the store.
	spec := weightgen.Spec{Seed: 3, LargeFiles: 1, LargeMin: 64 << 20, LargeMax: 64<<20 + 100, SmallFiles: 20, SmallMin: 10, SmallMax: 500, MaxDepth: 2}
	if _, err := weightgen.Generate(filepath.Join(p.dir, "weights/minilm"), spec); err != nil {
		t.Fatal(err)
	}
	small := pack.Options{BundleFileMax: 2000, BundleSizeMax: 4000}
	p.imp(t, func(o *ImportOptions) { o.Pack = small })
	if _, err := Artifacts(context.Background(), ArtifactsOptions{ProjectDir: p.dir, Config: p.cfg, Store: p.store}); err == nil || !strings.Contains(err.Error(), "envelopeFormat") {
		t.Fatalf("a lock packed with other thresholds must be refused: %v", err)
	}
	p.imp(t, nil) // repack with the spec's thresholds
	l, _ := p.lock(t)
	arts, err := Artifacts(context.Background(), ArtifactsOptions{ProjectDir: p.dir, Config: p.cfg, Store: p.store})
	if err != nil {
		t.Fatal(err)
	}
	a := arts[0]
	if len(a.Layers) != 2 {
		t.Fatalf("want a raw layer and a bundle, got %d layers", len(a.Layers))
	}
	if pack.Digest(a.Manifest) != l.Weights[0].Digest || a.SetDigest != l.Weights[0].SetDigest {
		t.Fatalf("artifact does not match lock")
	}
	check := func(blobs []Blob) {
		for _, b := range blobs {
			r, err := b.Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			d, n, err := pack.HashReader(r)
			r.Close()
			if err != nil {
				t.Fatalf("%s: %v", b.Descriptor.Digest, err)
			}
			if d != string(b.Descriptor.Digest) || n != b.Descriptor.Size {
				t.Fatalf("blob %s streamed %s (%d bytes)", b.Descriptor.Digest, d, n)
			}
		}
	}
	check(append([]Blob{a.Config}, a.Layers...))
	// Without the store the gzip bundles are repacked from the files.
	os.RemoveAll(filepath.Join(p.store.Root(), "blobs"))
	os.MkdirAll(filepath.Join(p.store.Root(), "blobs", "sha256"), 0o755)
	check(a.Layers)

	// A file that changed size after import makes its layer's open or
	// stream fail. (A same-size edit of a raw layer's file is caught by the
	// consumer's digest check: the registry's at commit, the layout
	// writer's hash; see layerOpener.)
	writeTree(t, filepath.Join(p.dir, "weights/minilm"), map[string]string{"model-00001-of-00001.safetensors": strings.Repeat("x", 4000)})
	var failed bool
	for _, b := range a.Layers {
		r, err := b.Open(context.Background())
		if err == nil {
			_, err = io.Copy(io.Discard, r)
			r.Close()
		}
		failed = failed || err != nil
	}
	if !failed {
		t.Fatalf("streaming a layer of a changed file did not fail")
	}
}

func TestArtifactsRefuseDrift(t *testing.T) {
	p := newProject(t, minilm)
	_, err := Artifacts(context.Background(), ArtifactsOptions{ProjectDir: p.dir, Config: p.cfg, Store: p.store})
	if err == nil || !strings.Contains(err.Error(), "weights import") {
		t.Fatalf("no lock: %v", err)
	}
	p.imp(t, nil)
	p.cfg.Weights[0].Target = "/src/elsewhere"
	_, err = Artifacts(context.Background(), ArtifactsOptions{ProjectDir: p.dir, Config: p.cfg, Store: p.store})
	if err == nil || !strings.Contains(err.Error(), "minilm") || !strings.Contains(err.Error(), "weights import") {
		t.Fatalf("drift: %v", err)
	}
}

// Every bad input fails with a message naming the problem and leaves the
// lockfile exactly as it was (or absent), with no temp files beside it.
func TestImportBadInputLeavesLockUntouched(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, p *project)
		want  []string
	}{
		{"symlink", func(t *testing.T, p *project) {
			os.Symlink("config.json", filepath.Join(p.dir, "weights/minilm/link.json"))
		}, []string{"link.json", "symbolic link"}},
		{"fifo", func(t *testing.T, p *project) {
			if err := syscall.Mkfifo(filepath.Join(p.dir, "weights/minilm/pipe"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"pipe", "FIFO"}},
		{"control byte in name", func(t *testing.T, p *project) {
			writeTree(t, filepath.Join(p.dir, "weights/minilm"), map[string]string{"bad\x01name.json": "{}"})
		}, []string{"control byte 0x01"}},
		{"backslash in name", func(t *testing.T, p *project) {
			writeTree(t, filepath.Join(p.dir, "weights/minilm"), map[string]string{"a\\b.json": "{}"})
		}, []string{"backslash"}},
		{"invalid utf-8", func(t *testing.T, p *project) {
			writeTree(t, filepath.Join(p.dir, "weights/minilm"), map[string]string{"\xff.json": "{}"})
		}, []string{"UTF-8"}},
		{"filter leaves nothing", func(t *testing.T, p *project) {
			p.cfg.Weights[0].Sources[0].Include = []string{"*.gguf"}
		}, []string{"*.gguf", "leave none", "cog.yaml"}},
		{"missing source", func(t *testing.T, p *project) {
			p.cfg.Weights[0].Sources[0].URI = "weights/nope"
		}, []string{"weights/nope", "does not exist"}},
		{"source escapes project", func(t *testing.T, p *project) {
			p.cfg.Weights[0].Sources[0].URI = "../outside"
		}, []string{"../outside"}},
		{"v0 lockfile", func(t *testing.T, p *project) {
			os.WriteFile(p.lockPath(), []byte(`{"version": "1", "created": "2026-02-01T00:00:00Z", "files": []}`), 0o644)
		}, []string{"weights.lock"}},
		{"unknown name", func(t *testing.T, p *project) {}, []string{`"nosuch"`, "minilm"}},
	}
	for _, withLock := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := newProject(t, minilm)
				if withLock {
					p.imp(t, nil)
				}
				tc.setup(t, p)
				before, _ := os.ReadFile(p.lockPath())
				o := p.importOpts()
				if tc.name == "unknown name" {
					o.Names = []string{"nosuch"}
				}
				_, err := Import(context.Background(), o)
				if err == nil {
					t.Fatalf("import succeeded")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				after, _ := os.ReadFile(p.lockPath())
				if !bytes.Equal(before, after) {
					t.Errorf("lockfile changed")
				}
				ents, _ := os.ReadDir(p.dir)
				for _, e := range ents {
					if strings.Contains(e.Name(), ".tmp") {
						t.Errorf("temp file left: %s", e.Name())
					}
				}
			})
		}
	}
}

func TestConcurrentImportsOfOneLock(t *testing.T) {
	p := newProject(t, minilm)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := Import(context.Background(), ImportOptions{ProjectDir: p.dir, Config: p.cfg, Store: p.store})
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	l, _ := p.lock(t)
	if len(l.Weights) != 1 || len(l.Weights[0].Files) != 4 {
		t.Fatalf("lock after concurrent imports: %+v", l)
	}
}
