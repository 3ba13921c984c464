package materialize

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/weights/pull/pulltest"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// TestDeliverIntoAFullDisk pulls a weight whose files do not fit the
// content store's file system (a 256 KiB tmpfs): a clear error, a failed
// marker, and nothing half-written that a later run would trust.
func TestDeliverIntoAFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		// Fail, never skip: make test runs as root, and a full disk is a
		// behaviour the suite must prove, not one it may quietly leave out.
		t.Fatalf("mounting a 256 KiB tmpfs failed (this test needs root, as make test has): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	e := newEnv(t)
	var err error
	if e.st, err = store.Open(filepath.Join(dir, "store")); err != nil {
		t.Fatal(err)
	}
	e.root = filepath.Join(dir, "root")
	files := map[string][]byte{"small.json": []byte("{}"), "model.safetensors": bytes.Repeat([]byte{7}, 400<<10)}
	pulltest.Publish(e.reg, repo, "v1", pulltest.Weight("m", "/src/w", files, testPack))
	res := e.deliver(t, e.resolve(t, "v1"))
	if res[0].Outcome != OutcomeFailed || !strings.Contains(res[0].Err.Error(), "is full") {
		t.Fatalf("%+v", res[0])
	}
	b, _ := os.ReadFile(filepath.Join(e.root, "src/w/.cog/failed"))
	if !strings.Contains(string(b), "no space left") {
		t.Errorf("failed marker: %q", b)
	}
	if got := readTree(t, filepath.Join(e.root, "src/w")); len(got) != 1 {
		t.Errorf("target holds %v", keys(got))
	}
	for _, sub := range []string{"ingest", "downloads"} {
		if ents, _ := os.ReadDir(filepath.Join(e.st.Root(), sub)); len(ents) != 0 {
			t.Errorf("%s holds %d files after the failure", sub, len(ents))
		}
	}
	bs, _ := e.st.Blobs()
	for _, b := range bs {
		if b.Size == 400<<10 {
			t.Error("the large file is in the store though it did not fit")
		}
	}
}
