package materialize

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/weights/pack"

	"github.com/cog-frontend/cog-frontend/weights/pull"
	"github.com/cog-frontend/cog-frontend/weights/pull/pulltest"
)

func TestVerifyFebruary2026Delivery(t *testing.T) {
	e := newEnv(t)
	m, layers := pulltest.V0(pulltest.V0File{Name: "model", Dest: "/src/weights/model.bin", Data: []byte("weights!")})
	for _, l := range layers {
		e.reg.PutBlob(repo, l)
	}
	e.reg.PutManifest(repo, "w", "application/vnd.oci.image.manifest.v1+json", m)
	e.deliver(t, e.resolve(t, "w"))
	exp, err := Delivered(e.root)
	if err != nil || len(exp) != 1 || exp[0].Root != e.root {
		t.Fatalf("%v %+v", err, exp)
	}
	if c := Verify(exp[0]); c.Status != StatusOK {
		t.Fatalf("%+v", c)
	}
	p := filepath.Join(e.root, "src/weights/model.bin")
	os.Remove(p)
	os.WriteFile(p, []byte("weights?"), 0o644)
	if c := Verify(exp[0]); c.Status != StatusChanged || c.File != "/src/weights/model.bin" {
		t.Fatalf("%+v", c)
	}
	os.Remove(p)
	os.Mkdir(p, 0o755)
	if c := Verify(exp[0]); c.Status != StatusChanged {
		t.Fatalf("%+v", c)
	}
}

func TestVerifyNamesAFailedOrInterruptedDelivery(t *testing.T) {
	root := t.TempDir()
	p := &Placer{Root: root}
	w := pull.Weight{Name: "x", Format: pull.FormatV1, Target: "/a", Manifest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
	if err := p.Begin(w); err != nil {
		t.Fatal(err)
	}
	e := Expected{Name: "x", Dir: p.Dir(w), Marker: filepath.Join(p.Markers(w), MarkerReady)}
	if c := Verify(e); c.Status != StatusMissing || c.Why != "a delivery is in progress (or was interrupted)" {
		t.Fatalf("%+v", c)
	}
	_ = p.Fail(w, errors.New("disk full"))
	if c := Verify(e); c.Status != StatusMissing || c.Why != "the last delivery failed: disk full" {
		t.Fatalf("%+v", c)
	}
}

func TestSwapWithoutExistingDir(t *testing.T) {
	d := t.TempDir()
	tmp, dst := filepath.Join(d, "new"), filepath.Join(d, "dst")
	os.Mkdir(tmp, 0o755)
	os.WriteFile(filepath.Join(tmp, "f"), []byte("1"), 0o644)
	if err := swap(tmp, dst); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(tmp, 0o755)
	os.WriteFile(filepath.Join(tmp, "f"), []byte("2"), 0o644)
	if err := swap(tmp, dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "f")); string(b) != "2" {
		t.Fatalf("dst holds %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(tmp, "f")); string(b) != "1" {
		t.Fatalf("the old version is not beside: %q", b)
	}
}

func TestPlaceNeedsFilesInStore(t *testing.T) {
	e := newEnv(t)
	pulltest.Publish(e.reg, repo, "v1", pulltest.Weight("m", "/src/w", v1files(), testPack))
	ws := e.resolve(t, "v1")
	p := &Placer{Store: e.st, Root: e.root}
	if err := p.Place(context.Background(), ws[0]); err == nil {
		t.Fatal("placed a weight whose files are not in the store")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Deliver(ctx, &pull.Fetcher{Store: e.st, Source: e.src}, p, ws)
	if res[0].Outcome != OutcomeFailed {
		t.Fatalf("cancelled delivery: %+v", res[0])
	}
	// store only
	res = Deliver(context.Background(), &pull.Fetcher{Store: e.st, Source: e.src}, nil, ws)
	if res[0].Outcome != OutcomeStored || res[0].Place != "" {
		t.Fatalf("store-only delivery: %+v", res[0])
	}
}

func TestReferencedCollectsReadyFiles(t *testing.T) {
	e := newEnv(t)
	files := v1files()
	pulltest.Publish(e.reg, repo, "v1", pulltest.Weight("m", "/src/w", files, testPack))
	e.deliver(t, e.resolve(t, "v1"))
	refs, err := Referenced([]string{e.root, t.TempDir(), filepath.Join(e.root, "gone")})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != len(files) {
		t.Fatalf("%d references for %d files", len(refs), len(files))
	}
	os.WriteFile(filepath.Join(e.root, "src/w/.cog/ready"), []byte("{"), 0o644)
	if _, err := Referenced([]string{e.root}); err == nil {
		t.Fatal("a corrupt ready marker went unnoticed")
	}
}

func TestDeliverRefusesTwoWeightsInOnePlace(t *testing.T) {
	e := newEnv(t)
	a := pulltest.Weight("a", "/src/w", map[string][]byte{"x": []byte("x")}, testPack)
	b := pulltest.Weight("b", "/src/w", map[string][]byte{"y": []byte("y")}, testPack)
	pulltest.Publish(e.reg, repo, "v1", a, b)
	res := e.deliver(t, e.resolve(t, "v1"))
	if res[0].Outcome != OutcomePlaced || res[1].Outcome != OutcomeFailed {
		t.Fatalf("%+v", res)
	}
}

func TestVerifyAgainstAWantedSetDigest(t *testing.T) {
	e := newEnv(t)
	files := v1files()
	w := pulltest.Weight("m", "/src/w", files, testPack)
	pulltest.Publish(e.reg, repo, "v1", w)
	e.deliver(t, e.resolve(t, "v1"))
	var rf []ReadyFile
	for p, b := range files {
		rf = append(rf, ReadyFile{Path: p, Size: int64(len(b)), Digest: pack.Digest(b)})
	}
	if c := Verify(ForWeight(e.root, "m", "/src/w", w.SetDigest, rf)); c.Status != StatusOK {
		t.Fatalf("%+v", c)
	}
	if c := Verify(ForWeight(e.root, "m", "/src/w", "sha256:other", rf)); c.Status != StatusChanged || !strings.Contains(c.Why, "want sha256:other") {
		t.Fatalf("%+v", c)
	}
	if c := Verify(ForWeight(e.root, "n", "/src/absent", w.SetDigest, rf)); c.Status != StatusMissing {
		t.Fatalf("%+v", c)
	}
}

func TestFebruary2026NewVersionRetiresTheOldReadyMarker(t *testing.T) {
	e := newEnv(t)
	publish := func(tag, data string) {
		m, layers := pulltest.V0(pulltest.V0File{Name: "model", Dest: "/src/weights/model.bin", Data: []byte(data)})
		for _, l := range layers {
			e.reg.PutBlob(repo, l)
		}
		e.reg.PutManifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", m)
	}
	publish("v1", "one")
	publish("v2", "two")
	v1 := e.resolve(t, "v1")
	e.deliver(t, v1)
	e.deliver(t, e.resolve(t, "v2"))
	if _, err := os.Stat(filepath.Join(e.root, V0MarkerDir, v1[0].Manifest.Encoded(), MarkerReady)); err == nil {
		t.Fatal("v1 still claims to be ready after v2 replaced its file")
	}
	if b, _ := os.ReadFile(filepath.Join(e.root, "src/weights/model.bin")); string(b) != "two" {
		t.Fatalf("file holds %q", b)
	}
}
