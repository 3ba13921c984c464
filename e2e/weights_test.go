//go:build e2e

package e2e

// weights import / status through the real cog-frontend binary on a
// generated fixture: a fresh import writes weights.lock, a second one is a
// no-op that leaves the file untouched, an edited file shows up as
// upstream-changed, and the recorded set digest equals one computed by
// coreutils from the same files.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/internal/weightgen"
)

func TestWeightsImportCLI(t *testing.T) {
	e := testEnv(t)
	dir := t.TempDir()
	t.Setenv("COG_CACHE_DIR", filepath.Join(dir, ".cache-store"))
	src := filepath.Join(dir, "weights", "minilm")
	files, err := weightgen.Generate(src, weightgen.Spec{Seed: 11, LargeFiles: 1, LargeMin: 64 << 20, LargeMax: 65 << 20,
		SmallFiles: 60, SmallMin: 100, SmallMax: 200 << 10, MaxDepth: 2})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour) // not "racily clean": see weights.racyWindow
	for _, f := range files {
		os.Chtimes(filepath.Join(src, filepath.FromSlash(f.Path)), old, old)
	}
	cogYAML := `build:
  python_version: "3.11"
model: ` + e.Registry + `/e2e/weights-cli
weights:
  - name: minilm
    target: /src/weights/minilm
    source:
      uri: weights/minilm
`
	if err := os.WriteFile(filepath.Join(dir, "cog.yaml"), []byte(cogYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	lockPath := filepath.Join(dir, "weights.lock")

	out := run(t, dir, e.Binary, "weights", "import", "--dry-run")
	if !strings.Contains(out, "minilm") || !strings.Contains(out, "new") {
		t.Fatalf("dry run output:\n%s", out)
	}
	if _, err := os.Stat(lockPath); !os.IsNotExist(err) {
		t.Fatalf("--dry-run wrote weights.lock")
	}

	out = run(t, dir, e.Binary, "weights", "import")
	if !strings.Contains(out, "new") || !strings.Contains(out, "wrote") {
		t.Fatalf("import output:\n%s", out)
	}
	b1, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := config.ParseLock(lockPath, b1)
	if err != nil {
		t.Fatalf("weights.lock does not parse: %v", err)
	}
	w := lock.Weights[0]
	if len(w.Files) != len(files) || len(w.Layers) != 2 {
		t.Fatalf("lock has %d files, %d layers; want %d files in a raw layer and a bundle", len(w.Files), len(w.Layers), len(files))
	}
	cmd := exec.Command("sh", "-c", `find * -type f -exec sha256sum {} + | LC_ALL=C sort | head -c -1 | sha256sum | cut -d' ' -f1`)
	cmd.Dir = src
	sum, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "sha256:" + strings.TrimSpace(string(sum)); w.SetDigest != want {
		t.Fatalf("setDigest %s, coreutils says %s", w.SetDigest, want)
	}

	out = run(t, dir, e.Binary, "weights", "import")
	if !strings.Contains(out, "unchanged") || !strings.Contains(out, "up to date") {
		t.Fatalf("second import:\n%s", out)
	}
	if b2, _ := os.ReadFile(lockPath); string(b2) != string(b1) {
		t.Fatalf("an unchanged import rewrote weights.lock")
	}

	if err := os.WriteFile(filepath.Join(src, "file-0000.json"), []byte(`{"changed": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run(t, dir, e.Binary, "weights", "status", "--json")
	var st struct {
		Weights []struct{ Name, Status string }
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if len(st.Weights) != 1 || st.Weights[0].Status != "upstream-changed" {
		t.Fatalf("status after an edit: %+v", st.Weights)
	}

	// A symlink in the source is refused, naming it, and the lock stays.
	os.Symlink("file-0001.json", filepath.Join(src, "alias.json"))
	out, err = runErr(t, dir, e.Binary, "weights", "import")
	if err == nil || !strings.Contains(out, "alias.json") {
		t.Fatalf("symlink accepted or not named:\n%s", out)
	}
	if b3, _ := os.ReadFile(lockPath); string(b3) != string(b1) {
		t.Fatalf("a failed import changed weights.lock")
	}
}
