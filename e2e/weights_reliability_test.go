//go:build e2e

package e2e

// The reliability of `weights import` / `weights status` as a user sees it
// through the real binary: every weight reported past a missing source,
// Ctrl-C naming what stopped with exit code 130, and progress on a pipe
// that is one line per weight and step. Run them with
// -run 'TestWeightsReliability'.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/internal/weightgen"
)

// reliabilityProject writes cog.yaml with the named weights, each a
// directory weights/<name>, and generates the ones given a spec.
func reliabilityProject(t *testing.T, e *Env, names []string, specs map[string]weightgen.Spec) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("COG_CACHE_DIR", filepath.Join(dir, ".cache-store"))
	y := "build:\n  python_version: \"3.11\"\nmodel: " + e.Registry + "/e2e/reliability\nweights:\n"
	old := time.Now().Add(-time.Hour)
	for _, n := range names {
		y += "  - name: " + n + "\n    target: /src/weights/" + n + "\n    source:\n      uri: weights/" + n + "\n"
		spec, ok := specs[n]
		if !ok {
			continue
		}
		src := filepath.Join(dir, "weights", n)
		files, err := weightgen.Generate(src, spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			os.Chtimes(filepath.Join(src, filepath.FromSlash(f.Path)), old, old)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cog.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runSplit runs the binary with stdout and stderr apart (stderr a pipe,
// not a terminal) and returns both and the exit code.
func runSplit(t *testing.T, dir, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("$ cog-frontend %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	return out.String(), errb.String(), code
}

func TestWeightsReliabilityStatusReportsEveryWeight(t *testing.T) {
	e := testEnv(t)
	small := weightgen.Spec{Seed: 3, SmallFiles: 3, SmallMin: 10, SmallMax: 100}
	dir := reliabilityProject(t, e, []string{"first", "gone", "last"}, map[string]weightgen.Spec{"first": small, "last": small})

	out, stderr, code := runSplit(t, dir, e.Binary, "weights", "status", "--no-registry")
	if code != 0 {
		t.Fatalf("status exit %d: %s", code, stderr)
	}
	for _, want := range []string{"first", "new", "last", "gone", "source-error", filepath.Join(dir, "weights", "gone") + " does not exist"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q", want)
		}
	}

	out, stderr, code = runSplit(t, dir, e.Binary, "weights", "status", "--no-registry", "--json")
	if code != 0 {
		t.Fatalf("status --json exit %d: %s", code, stderr)
	}
	var st struct {
		Weights []struct{ Name, Status, Reason string }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	got := map[string]string{}
	for _, w := range st.Weights {
		got[w.Name] = w.Status
	}
	if len(got) != 3 || got["first"] != "new" || got["gone"] != "source-error" || got["last"] != "new" {
		t.Errorf("status --json weights: %+v", st.Weights)
	}

	// import --dry-run reports the same and fails: the import would.
	out, _, code = runSplit(t, dir, e.Binary, "weights", "import", "--dry-run")
	if code != 1 || !strings.Contains(out, "last") || !strings.Contains(out, "source-error") {
		t.Errorf("import --dry-run: exit %d\n%s", code, out)
	}
}

func TestWeightsReliabilityBrokenLockSaysWhatToRun(t *testing.T) {
	e := testEnv(t)
	dir := reliabilityProject(t, e, []string{"w"}, map[string]weightgen.Spec{"w": {Seed: 4, SmallFiles: 2, SmallMin: 10, SmallMax: 20}})
	lockPath := filepath.Join(dir, "weights.lock")
	broken := []byte(`{"version": 1,,}`)
	if err := os.WriteFile(lockPath, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"weights", "import"}, {"weights", "status", "--no-registry"}} {
		_, stderr, code := runSplit(t, dir, e.Binary, args...)
		if code != 1 || !strings.Contains(stderr, lockPath+":1:15: not valid JSON") ||
			!strings.Contains(stderr, "delete it and run `cog-frontend weights import`") {
			t.Errorf("%v on a broken lock: exit %d\n%s", args, code, stderr)
		}
	}
	if b, _ := os.ReadFile(lockPath); string(b) != string(broken) {
		t.Errorf("the broken lock was changed")
	}
	// Doing what the message says works.
	os.Remove(lockPath)
	if _, stderr, code := runSplit(t, dir, e.Binary, "weights", "import"); code != 0 {
		t.Errorf("import after deleting the lock: exit %d: %s", code, stderr)
	}
}
