package weights

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImportRefusesARelativeSourceThatEscapesThroughASymlink(t *testing.T) {
	p := newProject(t, map[string]string{"a.bin": "a"})
	outside := t.TempDir()
	writeTree(t, filepath.Join(outside, "real"), map[string]string{"x.bin": "x"})
	// The parent directory of the source is a symlink out of the project.
	if err := os.Symlink(outside, filepath.Join(p.dir, "models")); err != nil {
		t.Fatal(err)
	}
	p.cfg.Weights[0].Sources[0].URI = "models/real"
	_, err := Import(context.Background(), p.importOpts())
	if err == nil {
		t.Fatal("import followed a symlink out of the project")
	}
	resolved, _ := filepath.EvalSymlinks(filepath.Join(outside, "real"))
	for _, want := range []string{"models/real", resolved, "outside the project", "file://" + resolved} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// The absolute form the error suggests is allowed (spec §10).
	p.cfg.Weights[0].Sources[0].URI = "file://" + resolved
	r := p.imp(t, nil)
	if r.Weights[0].Files != 1 {
		t.Errorf("absolute source: %+v", r.Weights[0])
	}
}

func TestImportFollowsASourceDirectoryThatIsASymlink(t *testing.T) {
	p := newProject(t, map[string]string{"a.bin": "a", "sub/b.bin": "b"})
	if err := os.Symlink("minilm", filepath.Join(p.dir, "weights", "current")); err != nil {
		t.Fatal(err)
	}
	p.cfg.Weights[0].Sources[0].URI = "weights/current"
	r := p.imp(t, nil)
	if r.Weights[0].Files != 2 {
		t.Fatalf("symlinked source directory: %+v", r.Weights[0])
	}
	l, _ := p.lock(t)
	if got := l.Weights[0].Sources[0].URI; got != "file://./weights/current" {
		t.Errorf("lock records the source as %q, want the uri of cog.yaml", got)
	}

	// A symlink to outside the project is refused, naming where it points.
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"x.bin": "x"})
	if err := os.Symlink(outside, filepath.Join(p.dir, "weights", "elsewhere")); err != nil {
		t.Fatal(err)
	}
	p.cfg.Weights[0].Sources[0].URI = "weights/elsewhere"
	_, err := Import(context.Background(), p.importOpts())
	resolved, _ := filepath.EvalSymlinks(outside)
	if err == nil || !strings.Contains(err.Error(), resolved) || strings.Contains(err.Error(), "holds no files") {
		t.Errorf("symlink out of the project: %v", err)
	}
}
