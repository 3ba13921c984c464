package materialize

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/weights/pull/pulltest"
)

func TestVerifyReportsOKMissingAndChanged(t *testing.T) {
	e := newEnv(t)
	pulltest.Publish(e.reg, repo, "v1", pulltest.Weight("m", "/src/w", v1files(), testPack))
	e.deliver(t, e.resolve(t, "v1"))
	exp, err := Delivered(e.root)
	if err != nil || len(exp) != 1 {
		t.Fatalf("delivered: %v %+v", err, exp)
	}
	if c := Verify(exp[0]); c.Status != StatusOK {
		t.Fatalf("fresh pull: %+v", c)
	}
	dir := filepath.Join(e.root, "src/w")
	// a changed file (replace the hard link: the store stays intact)
	os.Remove(filepath.Join(dir, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"a":9}`), 0o644)
	if c := Verify(exp[0]); c.Status != StatusChanged || c.File != "config.json" || !strings.Contains(c.Why, "content is") {
		t.Fatalf("changed: %+v", c)
	}
	os.Remove(filepath.Join(dir, "config.json"))
	if c := Verify(exp[0]); c.Status != StatusChanged || c.Why != "missing" {
		t.Fatalf("removed file: %+v", c)
	}
	e.deliver(t, e.resolve(t, "v1")) // still "ready": a pull trusts its marker
	os.RemoveAll(dir)
	e.deliver(t, e.resolve(t, "v1"))
	os.WriteFile(filepath.Join(dir, "stray.txt"), []byte("x"), 0o644)
	if c := Verify(exp[0]); c.Status != StatusChanged || c.File != "stray.txt" {
		t.Fatalf("extra file: %+v", c)
	}
	os.Remove(filepath.Join(dir, ".cog/ready"))
	if c := Verify(exp[0]); c.Status != StatusMissing {
		t.Fatalf("no marker: %+v", c)
	}
	if _, err := Delivered(t.TempDir()); err == nil {
		t.Fatal("an empty root has delivered weights")
	}
}
