//go:build e2e

package e2e

// The reliability suites: the real cog-frontend binary as separate
// processes against the real dev registry and real file systems.
//
//   - Disk full: weights import, push (its resumable upload state) and
//     weights pull on a tmpfs that fills up: a clear error naming the full
//     place, nothing half-written under a final name, and the next run after
//     space is freed completes and verifies.
//   - Concurrency: 4 imports, 4 pushes and 4 pulls at once over shared
//     stores and overlapping files; a process killed with SIGKILL holds no
//     lock afterwards.
//   - Faults under load: 4 pushes and 4 pulls at once through the fault
//     proxy (5xx, 429 with Retry-After, resets mid-body, slow bodies); every
//     blob in the registry re-hashes to its digest.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/config"
)

// mountTmpfs mounts a tmpfs of size (mount's syntax: "4m") at dir. It fails,
// never skips, when it cannot: make test runs as root, and a full disk is a
// behaviour the suite must prove.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a %s tmpfs at %s failed (this test needs root, as make test has): %v: %s", size, dir, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
}

// remountTmpfs grows (or shrinks) a mounted tmpfs: the "free space" step.
func remountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("remounting %s with size=%s: %v: %s", dir, size, err, out)
	}
}

// fillDisk writes a filler file at path until the file system is full and
// returns how much it wrote.
func fillDisk(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("filling %s: %v", path, err)
		}
	}
}

// detBytes is size bytes determined by seed: the same seed gives the same
// file in every project, which is how the suites share files.
func detBytes(seed string, size int) []byte {
	s := sha256.Sum256([]byte(seed))
	r := rand.NewChaCha8(s)
	b := make([]byte, size)
	_, _ = r.Read(b)
	return b
}

// relWeight is one weight of a generated project: file path → seed and
// size of its content.
type relWeight struct {
	name  string
	files map[string]relFile
}

type relFile struct {
	seed string
	size int
}

// relProject writes a Cog project at dir with the given weights (target
// /src/weights/<name>, source weights/<name>) and model.
func relProject(t *testing.T, dir, model string, ws ...relWeight) {
	t.Helper()
	var y strings.Builder
	y.WriteString("build:\n  python_version: \"3.11\"\nmodel: " + model + "\nweights:\n")
	old := time.Now().Add(-time.Hour) // not "racily clean" for the stat cache
	for _, w := range ws {
		fmt.Fprintf(&y, "  - name: %s\n    target: /src/weights/%s\n    source:\n      uri: weights/%s\n", w.name, w.name, w.name)
		for p, f := range w.files {
			full := filepath.Join(dir, "weights", w.name, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, detBytes(f.seed, f.size), 0o644); err != nil {
				t.Fatal(err)
			}
			_ = os.Chtimes(full, old, old)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cog.yaml"), []byte(y.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// cogCLI runs the cog-frontend binary in dir with extra environment
// variables and returns its combined output and error.
func cogCLI(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	return runWith(t, dir, env, theEnv.Binary, args...)
}

func mustCog(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	out, err := cogCLI(t, dir, env, args...)
	if err != nil {
		t.Fatalf("cog-frontend %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return out
}

// readLock parses dir/weights.lock.
func readLock(t *testing.T, dir string) *config.Lock {
	t.Helper()
	p := filepath.Join(dir, "weights.lock")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("weights.lock: %v", err)
	}
	l, err := config.ParseLock(p, b)
	if err != nil {
		t.Fatalf("weights.lock does not parse: %v", err)
	}
	return l
}

// statusAllUnchanged runs `weights status --no-registry --json` in dir and
// fails unless every weight of cog.yaml is unchanged (weights.lock current).
func statusAllUnchanged(t *testing.T, dir string, env []string) {
	t.Helper()
	out := mustCog(t, dir, env, "weights", "status", "--no-registry", "--json")
	var st struct {
		Weights []struct{ Name, Status string }
	}
	i := strings.Index(out, "{")
	if i < 0 || json.Unmarshal([]byte(out[i:]), &st) != nil || len(st.Weights) == 0 {
		t.Fatalf("weights status --json in %s:\n%s", dir, out)
	}
	for _, w := range st.Weights {
		if w.Status != "unchanged" {
			t.Errorf("weights status in %s: %s is %s, want unchanged\n%s", dir, w.Name, w.Status, out)
		}
	}
}

// verifyStore re-hashes every blob of the content store at root against
// its name and checks no ingest is left behind: what a store shows is
// whole and right.
func verifyStore(t *testing.T, root string) int {
	t.Helper()
	dir := filepath.Join(root, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != e.Name() {
			t.Errorf("store %s: blob %s holds content with digest %s", root, e.Name(), got)
		}
	}
	if ing, _ := os.ReadDir(filepath.Join(root, "ingest")); len(ing) != 0 {
		t.Errorf("store %s: %d ingest file(s) left behind", root, len(ing))
	}
	return len(ents)
}

// locksFree checks that no file lock under root is held: each one can be
// taken at once. A lock held by a dead process would block the next run.
func locksFree(t *testing.T, root string) int {
	t.Helper()
	n := 0
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(p, ".lock") {
			return nil
		}
		n++
		lk := flock.New(p)
		ok, err := lk.TryLock()
		if err != nil || !ok {
			t.Errorf("lock %s is still held (err %v)", p, err)
			return nil
		}
		_ = lk.Unlock()
		return nil
	})
	return n
}

// noPidFiles fails on any pid file under root: a lock by pid file outlives
// a kill.
func noPidFiles(t *testing.T, root string) {
	t.Helper()
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.HasSuffix(p, ".pid") {
			t.Errorf("pid file %s left behind", p)
		}
		return nil
	})
}

// verifyRegistryBlobs fetches every blob of every weight of the lock (the
// layers; the manifest by its tag) from the real registry and re-hashes it.
func verifyRegistryBlobs(t *testing.T, registry, repo string, lock *config.Lock) {
	t.Helper()
	r, err := name.NewRepository(registry + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range lock.Weights {
		for _, l := range w.Layers {
			verifyBlob(t, r, ocispec.Descriptor{Digest: digest.Digest(l.Digest), Size: l.Size})
		}
		got, err := theEnv.ManifestDigest(t.Context(), repo, w.Digest)
		if err != nil || got != w.Digest {
			t.Errorf("weight %s: manifest %s in %s/%s: got %q, %v", w.Name, w.Digest, registry, repo, got, err)
		}
	}
}

// verifyRoot runs `weights verify ROOT` and fails unless every weight is ok.
func verifyRoot(t *testing.T, root string, want int) {
	t.Helper()
	out := mustCog(t, t.TempDir(), nil, "weights", "verify", root)
	if n := strings.Count(out, " ok "); n != want {
		t.Errorf("weights verify %s: %d ok, want %d:\n%s", root, n, want, out)
	}
}

// pushProject imports dir's weights and pushes them with a test image as
// ref: `cog-frontend bundle --push`.
func pushProject(t *testing.T, dir string, env []string, ref string) (string, error) {
	t.Helper()
	img := filepath.Join(dir, "img")
	if _, err := os.Stat(img); err != nil {
		writeImageLayout(t, img)
	}
	return cogCLI(t, dir, env, "bundle", "--image", "oci-layout://"+img+":latest", "--push", ref, "--progress", "plain")
}

// TestReliabilityDiskFullImport: weights import whose content store is on
// a file system that fills up, and one whose weights.lock cannot be
// written for lack of space. Each fails naming the full place and what to
// do, leaves weights.lock and the store as they were (no half blob, no
// temporary file), and succeeds once space is freed.
func TestReliabilityDiskFullImport(t *testing.T) {
	testEnv(t)
	base := t.TempDir()
	small := filepath.Join(base, "small")
	mountTmpfs(t, small, "4m")
	proj := filepath.Join(base, "proj")
	// 24 small files: one gzip bundle of about 6 MiB, more than the 4 MiB
	// the store has.
	files := map[string]relFile{}
	for i := range 24 {
		files[fmt.Sprintf("shard-%02d.bin", i)] = relFile{seed: fmt.Sprintf("df-import-%d", i), size: 256 << 10}
	}
	relProject(t, proj, theEnv.Registry+"/e2e/df-import", relWeight{name: "m", files: files})
	storeDir := filepath.Join(small, "store")
	env := []string{"COG_CACHE_DIR=" + storeDir}

	out, err := cogCLI(t, proj, env, "weights", "import")
	if err == nil {
		t.Fatalf("import into a 4 MiB store succeeded:\n%s", out)
	}
	t.Logf("import on a full store:\n%s", out)
	for _, want := range []string{storeDir, "full", "free space"} {
		if !strings.Contains(out, want) {
			t.Errorf("the error does not say %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(proj, "weights.lock")); !os.IsNotExist(err) {
		t.Errorf("a failed import wrote weights.lock (%v)", err)
	}
	verifyStore(t, storeDir)

	remountTmpfs(t, small, "64m")
	mustCog(t, proj, env, "weights", "import")
	if n := verifyStore(t, storeDir); n == 0 {
		t.Error("the store holds no blob after the import")
	}
	lock := readLock(t, proj)
	if len(lock.Weights) != 1 || len(lock.Weights[0].Files) != len(files) {
		t.Fatalf("weights.lock after the import: %+v", lock.Weights)
	}
	statusAllUnchanged(t, proj, env)

	// weights.lock on a full disk: the project on a tmpfs of its own, filled
	// up, and a changed file so the import must rewrite the lock.
	proj2 := filepath.Join(base, "proj2")
	mountTmpfs(t, proj2, "16m")
	relProject(t, proj2, theEnv.Registry+"/e2e/df-import", relWeight{name: "m", files: files})
	mustCog(t, proj2, env, "weights", "import")
	before, _ := os.ReadFile(filepath.Join(proj2, "weights.lock"))
	if err := os.WriteFile(filepath.Join(proj2, "weights/m/added.json"), []byte(`{"added":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(proj2, "filler")
	fillDisk(t, filler)
	out, err = cogCLI(t, proj2, env, "weights", "import")
	if err == nil {
		t.Fatalf("import with no room for weights.lock succeeded:\n%s", out)
	}
	t.Logf("import with weights.lock on a full disk:\n%s", out)
	for _, want := range []string{filepath.Join(proj2, "weights.lock"), "full", "free space"} {
		if !strings.Contains(out, want) {
			t.Errorf("the error does not say %q:\n%s", want, out)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(proj2, "weights.lock")); !bytes.Equal(after, before) {
		t.Error("a failed import changed weights.lock")
	}
	ents, _ := os.ReadDir(proj2)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left in the project", e.Name())
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustCog(t, proj2, env, "weights", "import")
	statusAllUnchanged(t, proj2, env)
	verifyStore(t, storeDir)
}

// TestReliabilityDiskFullPull: weights pull with the store and the
// destination on one full file system, then with the destination alone on
// a full one (files are copied, not linked). Each fails naming the full
// place; no file of the weight is visible in the target and the store
// holds only whole blobs; after space is freed the pull completes and
// verifies.
func TestReliabilityDiskFullPull(t *testing.T) {
	testEnv(t)
	repo := uniqueRepo(t, theEnv.Registry, "df-pull")
	proj := t.TempDir()
	files := map[string]relFile{"config.json": {seed: "df-pull-cfg", size: 300}}
	for i := range 12 {
		files[fmt.Sprintf("shard-%02d.bin", i)] = relFile{seed: fmt.Sprintf("df-pull-%d", i), size: 512 << 10}
	}
	relProject(t, proj, repo.String(), relWeight{name: "m", files: files})
	pushEnv := []string{"COG_CACHE_DIR=" + filepath.Join(t.TempDir(), "push-store")}
	mustCog(t, proj, pushEnv, "weights", "import")
	if out, err := pushProject(t, proj, pushEnv, repo.Tag("v1").String()); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	ref := repo.Tag("v1").String()

	check := func(label, storeDir, root, full string, out string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: pull into a full disk succeeded:\n%s", label, out)
		}
		t.Logf("%s:\n%s", label, out)
		for _, want := range []string{full, "full", "free space"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the error does not say %q:\n%s", label, want, out)
			}
		}
		target := filepath.Join(root, "src/weights/m")
		for p := range files {
			if _, err := os.Stat(filepath.Join(target, p)); err == nil {
				t.Errorf("%s: %s is in the target after a failed pull", label, p)
			}
		}
		if _, err := os.Stat(filepath.Join(target, ".cog/ready")); err == nil {
			t.Errorf("%s: a ready marker after a failed pull", label)
		}
		// The version being built beside the target is gone too: on a full
		// disk its partial copies are the space the user needs back.
		_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && strings.Contains(filepath.Base(p), ".cog-new") {
				t.Errorf("%s: staging directory %s left after the failed pull", label, p)
			}
			return nil
		})
		verifyStore(t, storeDir)
		// verify says missing (not delivered), never ok or changed.
		vout, verr := cogCLI(t, t.TempDir(), nil, "weights", "verify", root, "--ref", ref)
		if verr == nil || !strings.Contains(vout, "missing") {
			t.Errorf("%s: weights verify on the failed root: %v\n%s", label, verr, vout)
		}
	}

	// 1. Store and destination on one 3 MiB file system (hard links).
	small := filepath.Join(t.TempDir(), "small")
	mountTmpfs(t, small, "3m")
	store1, root1 := filepath.Join(small, "store"), filepath.Join(small, "root")
	env1 := []string{"COG_CACHE_DIR=" + store1}
	out, err := cogCLI(t, t.TempDir(), env1, "weights", "pull", ref, "--dest", root1)
	check("store and root on a full disk", store1, root1, store1, out, err)
	remountTmpfs(t, small, "64m")
	mustCog(t, t.TempDir(), env1, "weights", "pull", ref, "--dest", root1)
	verifyRoot(t, root1, 1)
	verifyStore(t, store1)

	// 2. The store on the big disk, the destination on a full one: copies.
	store2 := filepath.Join(t.TempDir(), "store2")
	dest := filepath.Join(t.TempDir(), "dest")
	mountTmpfs(t, dest, "8m")
	filler := filepath.Join(dest, "filler")
	fillDisk(t, filler)
	remountTmpfs(t, dest, "11m") // 3 MiB free: not enough for 6 MiB of copies
	root2 := filepath.Join(dest, "root")
	env2 := []string{"COG_CACHE_DIR=" + store2}
	out, err = cogCLI(t, t.TempDir(), env2, "weights", "pull", ref, "--dest", root2)
	check("destination on a full disk", store2, root2, root2, out, err)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustCog(t, t.TempDir(), env2, "weights", "pull", ref, "--dest", root2)
	verifyRoot(t, root2, 1)
	verifyStore(t, store2)
}

// TestReliabilityDiskFullPushState: the push's local state (upload
// sessions, the record of where blobs went) lives in COG_CACHE_DIR. A push
// killed mid-upload leaves a session there; with that file system full, the
// next push must neither corrupt the saved session nor fail on it; killed
// again while full, the run after space is freed completes, and every blob
// in the registry re-hashes to its digest.
func TestReliabilityDiskFullPushState(t *testing.T) {
	testEnv(t)
	cache := filepath.Join(t.TempDir(), "cache")
	mountTmpfs(t, cache, "48m")
	proj := t.TempDir()
	files := map[string]relFile{}
	for i := range 16 {
		files[fmt.Sprintf("shard-%02d.bin", i)] = relFile{seed: fmt.Sprintf("df-push-%d", i), size: 1 << 20}
	}
	px := newFaultProxy(t, theEnv.Registry)
	repo := uniqueRepo(t, px.addr(), "df-push")
	relProject(t, proj, repo.String(), relWeight{name: "m", files: files})
	env := []string{"COG_CACHE_DIR=" + cache}
	mustCog(t, proj, env, "weights", "import")
	lock := readLock(t, proj)
	weight := lock.Weights[0].SizeCompressed
	writeImageLayout(t, filepath.Join(proj, "img"))
	// Slow uploads in 2 MiB chunks, so a kill lands mid-upload with a
	// session saved.
	px.mu.Lock()
	px.slowRate, px.chunkMax = 4<<20, 2<<20
	px.mu.Unlock()

	startPush := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(theEnv.Binary, "bundle", "--image", "oci-layout://"+filepath.Join(proj, "img")+":latest",
			"--push", repo.Tag("v1").String(), "--progress", "plain")
		cmd.Dir = proj
		cmd.Env = append(os.Environ(), env...)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &buf
	}
	killAt := func(cmd *exec.Cmd, out *bytes.Buffer, bytes int64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for px.blobBytes.Load() < bytes {
			if time.Now().After(deadline) || cmd.ProcessState != nil {
				_ = cmd.Process.Kill()
				t.Fatalf("the push never sent %d bytes:\n%s", bytes, out)
			}
			time.Sleep(5 * time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	sessions := func() []string {
		var ss []string
		_ = filepath.Walk(filepath.Join(cache, "uploads"), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && strings.HasSuffix(p, ".json") && filepath.Base(p) != "locations.json" {
				ss = append(ss, p)
			}
			return nil
		})
		return ss
	}
	validSessions := func(label string) {
		t.Helper()
		for _, p := range sessions() {
			b, err := os.ReadFile(p)
			var s struct{ Location, Digest string }
			if err != nil || json.Unmarshal(b, &s) != nil || s.Location == "" || !strings.HasSuffix(p, strings.TrimPrefix(s.Digest, "sha256:")+".json") {
				t.Errorf("%s: upload session %s is corrupt: %v %q", label, p, err, b)
			}
		}
		_ = filepath.Walk(cache, func(p string, fi os.FileInfo, err error) error {
			if err == nil && strings.Contains(filepath.Base(p), ".tmp-") {
				t.Errorf("%s: temporary file %s left in the state directory", label, p)
			}
			return nil
		})
	}

	// 1. Killed at about a third: a session is saved.
	cmd, out := startPush()
	killAt(cmd, out, weight/3)
	if len(sessions()) == 0 {
		t.Fatalf("no upload session saved under %s after the kill:\n%s", cache, out)
	}
	validSessions("after the first kill")

	// 2. The state directory's disk full; push again, killed at two thirds.
	filler := filepath.Join(cache, "filler")
	fillDisk(t, filler)
	cmd, out = startPush()
	killAt(cmd, out, weight*2/3)
	t.Logf("second push (disk full), killed:\n%s", out)
	validSessions("after the kill on a full disk")

	// 3. Still full: a whole push completes (the state is a help, not a
	// need), and leaves the state valid.
	px.mu.Lock()
	px.slowRate = 0
	px.mu.Unlock()
	out3, err := pushProject(t, proj, env, repo.Tag("v1").String())
	if err != nil {
		t.Fatalf("push with the state directory's disk full failed: %v\n%s", err, out3)
	}
	validSessions("after a push on a full disk")

	// 4. Space freed: the next push completes (nothing left to send) and
	// records where the blobs went.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	out4 := mustCog(t, proj, env, "bundle", "--image", "oci-layout://"+filepath.Join(proj, "img")+":latest", "--push", repo.Tag("v2").String(), "--progress", "plain")
	if !strings.Contains(out4, "uploaded 0B") {
		t.Errorf("the push after freeing space uploaded again:\n%s", out4)
	}
	if len(sessions()) != 0 {
		t.Errorf("upload sessions left after complete pushes: %v", sessions())
	}
	if _, err := os.Stat(filepath.Join(cache, "uploads", registryDirName(px.addr()), "locations.json")); err != nil {
		t.Errorf("no record of pushed blobs after space was freed: %v", err)
	}
	sent := px.blobBytes.Load()
	t.Logf("blob bytes sent across the four pushes: %d for a %d byte weight (%.2fx)", sent, weight, float64(sent)/float64(weight))
	// Each run continued the saved session (a kill loses at most the chunk
	// in flight); starting over each time would send about twice the weight.
	if float64(sent) > 1.5*float64(weight) {
		t.Errorf("%d blob bytes sent for a %d byte weight: the pushes did not continue the saved session", sent, weight)
	}
	verifyRegistryBlobs(t, theEnv.Registry, repo.RepositoryStr(), lock)
	verifyStore(t, cache)
}

// registryDirName is internal/registry's folder name of a registry host.
func registryDirName(host string) string {
	return strings.NewReplacer(":", "_", "/", "_").Replace(host)
}

// concurrencyProjects writes 4 projects whose weights overlap: every
// weight has the shared file, pairs share a second one, and each has its
// own. Project i pushes to repos[i%2].
func concurrencyProjects(t *testing.T, base string, repos []name.Repository, tag string) []string {
	t.Helper()
	var dirs []string
	for i := range 4 {
		dir := filepath.Join(base, fmt.Sprintf("p%d", i))
		relProject(t, dir, repos[i%len(repos)].String(), relWeight{name: fmt.Sprintf("w%d", i%2), files: map[string]relFile{
			"shared.bin":          {seed: tag + "-shared", size: 6 << 20},
			"pair.bin":            {seed: fmt.Sprintf("%s-pair-%d", tag, i/2), size: 2 << 20},
			"own.bin":             {seed: fmt.Sprintf("%s-own-%d", tag, i), size: 1 << 20},
			"tok/vocab.txt":       {seed: tag + "-vocab", size: 4 << 10},
			fmt.Sprintf("x%d", i): {seed: fmt.Sprintf("%s-x-%d", tag, i), size: 100},
		}})
		dirs = append(dirs, dir)
	}
	return dirs
}

// parallel runs f(i) for i in 0..n-1 at once and waits.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); f(i) }()
	}
	wg.Wait()
}

// twinProjects writes 4 projects whose weights come in identical pairs
// (projects 0 and 1, 2 and 3: the same files, so the same layer and weight
// manifest), sharing shared.bin with concurrencyProjects of the same tag.
func twinProjects(t *testing.T, base string, repo name.Repository, tag string) []string {
	t.Helper()
	var dirs []string
	for i := range 4 {
		dir := filepath.Join(base, fmt.Sprintf("twin%d", i))
		relProject(t, dir, repo.String(), relWeight{name: "w", files: map[string]relFile{
			"shared.bin":    {seed: tag + "-shared", size: 6 << 20},
			"twin.bin":      {seed: fmt.Sprintf("%s-twin-%d", tag, i/2), size: 3 << 20},
			"tok/vocab.txt": {seed: tag + "-vocab", size: 4 << 10},
		}})
		dirs = append(dirs, dir)
	}
	return dirs
}

// startCog starts the cog-frontend binary in dir; wait with waitCog.
func startCog(t *testing.T, dir string, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(theEnv.Binary, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &buf
}

// waitCog waits for a started process, failing the test if it fails or is
// still running after d (blocked, e.g. by a lock nobody releases).
func waitCog(t *testing.T, label string, cmd *exec.Cmd, out *bytes.Buffer, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: %v\n%s", label, err, out)
		}
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("%s: still running after %s (blocked?):\n%s", label, d, out)
	}
}

// TestReliabilityConcurrency: 4 imports at once, then 4 pushes at once,
// then 12 processes at once (4 imports of new projects, 4 pushes to the
// other repository, 4 pulls), all as separate processes sharing one
// content store and overlapping files. Every lock is what a lone import
// writes, every blob in the registry re-hashes, every pulled root
// verifies, and no file lock is left held. Then a pull, a push (while
// another push waits for the same blob) and an import are killed with
// SIGKILL mid-way: the others and the next runs are not blocked.
func TestReliabilityConcurrency(t *testing.T) {
	testEnv(t)
	base := t.TempDir()
	repos := []name.Repository{uniqueRepo(t, theEnv.Registry, "conc-a"), uniqueRepo(t, theEnv.Registry, "conc-b")}
	dirs := concurrencyProjects(t, base, repos, "conc")
	shared := filepath.Join(base, "shared-store")
	env := []string{"COG_CACHE_DIR=" + shared}

	errs := make([]error, 12)
	outs := make([]string, 12)
	start := time.Now()
	parallel(4, func(i int) { outs[i], errs[i] = cogCLI(t, dirs[i], env, "weights", "import") })
	t.Logf("4 imports at once: %s", time.Since(start).Round(time.Millisecond))
	for i := range 4 {
		if errs[i] != nil {
			t.Fatalf("import %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	// Each lock equals what an import alone into a fresh store writes.
	sameAsAlone := func(d string) {
		t.Helper()
		alone := filepath.Join(base, fmt.Sprintf("alone-%s", filepath.Base(d)))
		if err := os.MkdirAll(alone, 0o755); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(d, "cog.yaml"))
		if err := os.WriteFile(filepath.Join(alone, "cog.yaml"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		// Hard links: the same files (and mtimes) inside this project; a
		// relative source may not leave the project through a symlink.
		if out, err := exec.Command("cp", "-al", filepath.Join(d, "weights"), filepath.Join(alone, "weights")).CombinedOutput(); err != nil {
			t.Fatalf("cp -al: %v: %s", err, out)
		}
		mustCog(t, alone, []string{"COG_CACHE_DIR=" + filepath.Join(base, "alone-store")}, "weights", "import")
		want, have := readLock(t, alone), readLock(t, d)
		for k := range want.Weights {
			want.Weights[k].ImportedAt = ""
		}
		for k := range have.Weights {
			have.Weights[k].ImportedAt = ""
		}
		wb, _ := json.Marshal(want)
		hb, _ := json.Marshal(have)
		if !bytes.Equal(wb, hb) {
			t.Errorf("%s: the lock of the concurrent import differs from a lone import's:\n%s\nvs\n%s", d, hb, wb)
		}
		statusAllUnchanged(t, d, env)
	}
	for _, d := range dirs {
		sameAsAlone(d)
	}
	verifyStore(t, shared)
	locksFree(t, shared)

	pushFourAndVerify(t, dirs, env, repos, "at once")
	locksFree(t, shared)

	// 12 at once, one store: imports of the twin projects (sharing
	// shared.bin with the pushed ones), pushes of the first projects to
	// the other repository (mounting what the other has), and pulls of
	// what was pushed into roots of their own, through the same store.
	twins := twinProjects(t, base, repos[0], "conc")
	roots := make([]string, 4)
	start = time.Now()
	parallel(12, func(k int) {
		i := k % 4
		switch k / 4 {
		case 0:
			outs[k], errs[k] = cogCLI(t, twins[i], env, "weights", "import")
		case 1:
			outs[k], errs[k] = pushProject(t, dirs[i], env, repos[(i+1)%2].Tag(fmt.Sprintf("x%d", i)).String())
		case 2:
			roots[i] = filepath.Join(base, fmt.Sprintf("root-%d", i))
			outs[k], errs[k] = cogCLI(t, base, env, "weights", "pull", repos[i%2].Tag(fmt.Sprintf("v%d", i)).String(), "--dest", roots[i])
		}
	})
	t.Logf("4 imports, 4 pushes and 4 pulls at once: %s", time.Since(start).Round(time.Millisecond))
	for k := range 12 {
		if errs[k] != nil {
			t.Fatalf("%s %d: %v\n%s", []string{"import", "push", "pull"}[k/4], k%4, errs[k], outs[k])
		}
	}
	for i := range 4 {
		sameAsAlone(twins[i])
		verifyRegistryBlobs(t, theEnv.Registry, repos[(i+1)%2].RepositoryStr(), readLock(t, dirs[i]))
		verifyRoot(t, roots[i], 1)
	}
	verifyStore(t, shared)
	t.Logf("%d file locks in the shared store, none held", locksFree(t, shared))
	noPidFiles(t, shared)

	// Kill -9 one of 4 pulls (slowed by a proxy) mid-way, into a fresh store.
	slow := newThrottledCounter(t, theEnv.Registry, 8<<20)
	node2 := filepath.Join(base, "node-store-2")
	env2 := []string{"COG_CACHE_DIR=" + node2}
	cmds := make([]*exec.Cmd, 4)
	bufs := make([]*bytes.Buffer, 4)
	pullRef := func(i int) string { return slow.host() + "/" + repos[i%2].RepositoryStr() + fmt.Sprintf(":v%d", i) }
	for i := range 4 {
		cmds[i], bufs[i] = startCog(t, base, env2, "weights", "pull", pullRef(i), "--dest", filepath.Join(base, fmt.Sprintf("kroot-%d", i)))
	}
	killOnceMoved(t, cmds[0], &slow.bytes, 6<<20, "the pulls never moved 6 MiB")
	t.Logf("killed pull 0 after %d bytes through the proxy", slow.bytes.Load())
	for i := 1; i < 4; i++ {
		waitCog(t, fmt.Sprintf("pull %d after another was killed", i), cmds[i], bufs[i], 3*time.Minute)
		verifyRoot(t, filepath.Join(base, fmt.Sprintf("kroot-%d", i)), 1)
	}
	locksFree(t, node2)
	noPidFiles(t, node2)
	mustCog(t, base, env2, "weights", "pull", pullRef(0), "--dest", filepath.Join(base, "kroot-0"))
	verifyRoot(t, filepath.Join(base, "kroot-0"), 1)
	// The killed pull's ingest may stay (weights prune removes old ones);
	// it is never a blob.
	verifyBlobsOnly(t, node2)

	// Kill -9 a push mid-upload while its twin waits to push the same
	// layer to the same repository: the twin takes over, and the killed
	// one's next run finds everything there.
	px := newFaultProxy(t, theEnv.Registry)
	px.setLoad(0, 0, 0, 0, 4<<20)
	krepo := px.addr() + "/" + uniqueRepo(t, theEnv.Registry, "conc-kill").RepositoryStr()
	for i := range 4 {
		writeImageLayout(t, filepath.Join(twins[i], "img"))
		cmds[i], bufs[i] = startCog(t, twins[i], env, "bundle", "--image", "oci-layout://"+filepath.Join(twins[i], "img")+":latest",
			"--push", krepo+fmt.Sprintf(":t%d", i), "--progress", "plain")
	}
	killOnceMoved(t, cmds[0], &px.blobBytes, 3<<20, "the pushes never sent 3 MiB")
	t.Logf("killed push 0 after %d blob bytes through the proxy", px.blobBytes.Load())
	for i := 1; i < 4; i++ {
		waitCog(t, fmt.Sprintf("push %d after another was killed", i), cmds[i], bufs[i], 3*time.Minute)
	}
	px.setLoad(0, 0, 0, 0, 0)
	out := mustCog(t, twins[0], env, "bundle", "--image", "oci-layout://"+filepath.Join(twins[0], "img")+":latest", "--push", krepo+":t0", "--progress", "plain")
	if !strings.Contains(out, "uploaded 0B") {
		t.Errorf("the killed push's next run uploaded again though its twin pushed the same blobs:\n%s", out)
	}
	kr, _ := name.NewRepository(krepo)
	for i := range 4 {
		verifyRegistryBlobs(t, theEnv.Registry, kr.RepositoryStr(), readLock(t, twins[i]))
	}
	locksFree(t, shared)

	// Kill -9 an import while it holds the lock of its weights.lock (it
	// is packing into the store); the next import of that project is not
	// blocked.
	if err := os.WriteFile(filepath.Join(dirs[0], "weights/w0/more.bin"), detBytes("conc-more", 24<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	imp, ibuf := startCog(t, dirs[0], env, "weights", "import")
	deadline := time.Now().Add(time.Minute)
	for {
		if ents, _ := os.ReadDir(filepath.Join(shared, "ingest")); len(ents) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the import never started packing:\n%s", ibuf.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = imp.Process.Signal(syscall.SIGKILL)
	_ = imp.Wait()
	locksFree(t, shared)
	noPidFiles(t, shared)
	start = time.Now()
	again, abuf := startCog(t, dirs[0], env, "weights", "import")
	waitCog(t, "the import after the killed one", again, abuf, time.Minute)
	t.Logf("the import after the killed one: %s", time.Since(start).Round(time.Millisecond))
	statusAllUnchanged(t, dirs[0], env)
	// The killed import's ingest is garbage, never a blob.
	verifyBlobsOnly(t, shared)
}

// blobNames lists the blobs of a store.
func blobNames(t *testing.T, root string) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// verifyBlobsOnly re-hashes a store's blobs, tolerating ingests (a killed
// process leaves one; a later clean removes it).
func verifyBlobsOnly(t *testing.T, root string) {
	t.Helper()
	for _, b := range blobNames(t, root) {
		f, err := os.Open(filepath.Join(root, "blobs", "sha256", b))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		if got := hex.EncodeToString(h.Sum(nil)); got != b {
			t.Errorf("store %s: blob %s holds %s", root, b, got)
		}
	}
}

// TestReliabilityFaultsUnderLoad: 4 pushes at once, then 4 pulls at once,
// all through the fault proxy: 5xx and 429 with Retry-After on a share of
// requests, upload PATCHes and blob downloads reset halfway through their
// bodies, and blob bodies slowed. Every push and pull completes, every blob
// in the registry re-hashes to its digest, and every root verifies.
func TestReliabilityFaultsUnderLoad(t *testing.T) {
	testEnv(t)
	base := t.TempDir()
	px := newFaultProxy(t, theEnv.Registry)
	repos := []name.Repository{uniqueRepo(t, px.addr(), "load-a"), uniqueRepo(t, px.addr(), "load-b")}
	dirs := concurrencyProjects(t, base, repos, "load")
	push := filepath.Join(base, "push-store")
	env := []string{"COG_CACHE_DIR=" + push}
	for _, d := range dirs {
		mustCog(t, d, env, "weights", "import")
	}
	px.setLoad(0.15, 0.10, 2, 2, 16<<20)

	errs := make([]error, 4)
	outs := make([]string, 4)
	pushFourAndVerify(t, dirs, env, repos, "through faults")

	roots := make([]string, 4)
	start := time.Now()
	parallel(4, func(i int) {
		roots[i] = filepath.Join(base, fmt.Sprintf("root-%d", i))
		// Two nodes, two pulls each, sharing their store.
		nodeEnv := []string{"COG_CACHE_DIR=" + filepath.Join(base, fmt.Sprintf("node-%d", i%2))}
		outs[i], errs[i] = cogCLI(t, base, nodeEnv, "weights", "pull", repos[i%2].Tag(fmt.Sprintf("v%d", i)).String(), "--dest", roots[i])
	})
	t.Logf("4 pulls through faults: %s", time.Since(start).Round(time.Millisecond))
	for i := range 4 {
		if errs[i] != nil {
			t.Fatalf("pull %d through faults: %v\n%s", i, errs[i], outs[i])
		}
		verifyRoot(t, roots[i], 1)
	}
	for i := range 2 {
		verifyStore(t, filepath.Join(base, fmt.Sprintf("node-%d", i)))
	}
	px.mu.Lock()
	injected := fmt.Sprint(px.injected)
	px.mu.Unlock()
	t.Logf("faults injected: %s", injected)
	for _, k := range []string{"5xx", "429", "reset", "get-reset", "slow"} {
		if px.injectedCount(k) == 0 {
			t.Errorf("no %s fault was injected; the test did not test it (%s)", k, injected)
		}
	}
}

// pushFourAndVerify pushes the four projects at once, dirs[i] to
// repos[i%2]:v<i>, and checks every blob each lock names in the registry.
func pushFourAndVerify(t *testing.T, dirs []string, env []string, repos []name.Repository, how string) {
	t.Helper()
	errs := make([]error, 4)
	outs := make([]string, 4)
	start := time.Now()
	parallel(4, func(i int) {
		outs[i], errs[i] = pushProject(t, dirs[i], env, repos[i%2].Tag(fmt.Sprintf("v%d", i)).String())
	})
	t.Logf("4 pushes %s: %s", how, time.Since(start).Round(time.Millisecond))
	for i := range 4 {
		if errs[i] != nil {
			t.Fatalf("push %d %s: %v\n%s", i, how, errs[i], outs[i])
		}
	}
	for i, d := range dirs {
		verifyRegistryBlobs(t, theEnv.Registry, repos[i%2].RepositoryStr(), readLock(t, d))
	}
}

// killOnceMoved kills cmd with SIGKILL once counter reaches n bytes, and
// fails with never if that takes over a minute.
func killOnceMoved(t *testing.T, cmd *exec.Cmd, counter *atomic.Int64, n int64, never string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for counter.Load() < n {
		if time.Now().After(deadline) {
			t.Fatal(never)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}
