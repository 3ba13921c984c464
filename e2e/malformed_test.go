//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// malformedOnBuildx are cases of testdata/malformed (see
// cmd/cog-frontend/malformed_test.go) taken through plain buildx: YAML
// syntax, a wrong type, a weights entry, predict.py and train.py; the
// weights.lock case only through a build (check does not read the lock).
var malformedOnBuildx = []struct {
	name  string
	check bool
}{
	{"yaml-tab-indent", true},
	{"type-gpu-not-bool", true},
	{"weights-duplicate-name", true},
	{"py-syntax-error", true},
	{"train-unknown-type", true},
	{"lock-version-mismatch", false},
}

// TestBuildxMalformedPositions: the file:line:col a broken project's
// error names reaches the user of `docker buildx build --call check -f
// cog.yaml .` and of a real `docker buildx build -f cog.yaml .` (frontend
// from BUILDKIT_SYNTAX, so cog.yaml's lines are the corpus's), and the
// failed build exports nothing.
func TestBuildxMalformedPositions(t *testing.T) {
	e := testEnv(t)
	fe := frontendImage(t, e)
	for _, c := range malformedOnBuildx {
		t.Run(c.name, func(t *testing.T) {
			src := filepath.Join(e.Root, "testdata", "malformed", c.name)
			want := strings.TrimSpace(readFile(t, filepath.Join(src, "expect")))
			dir := filepath.Join(t.TempDir(), "project")
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"cmd", "expect"} {
				if err := os.Remove(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
			syntax := []string{"--build-arg", "BUILDKIT_SYNTAX=" + fe, "-f", "cog.yaml"}
			if c.check {
				out, err := runErr(t, dir, "docker", append(append([]string{"buildx", "build", "--builder", e.Builder, "--call", "check"}, syntax...), ".")...)
				if err == nil || !strings.Contains(out, want) {
					t.Errorf("--call check: err %v; want the output to hold %q:\n%s", err, want, tail(out, 40))
				}
			}
			dest := filepath.Join(t.TempDir(), "out")
			out, err := buildx(t, e, dir, append(syntax, "--progress=plain", "--output", "type=local,dest="+dest, ".")...)
			if err == nil {
				t.Fatalf("the broken project built:\n%s", tail(out, 40))
			}
			if !strings.Contains(out, want) {
				t.Errorf("build: want the output to hold %q:\n%s", want, tail(out, 40))
			}
			if ents, err := os.ReadDir(dest); err == nil && len(ents) > 0 {
				t.Errorf("the failed build wrote %d entries to %s", len(ents), dest)
			}
		})
	}
}
