package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/internal/registry/registrytest"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/pull"
	"github.com/cog-frontend/cog-frontend/weights/pull/pulltest"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

func pullCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"weights", "--project", dir}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestWeightsPullVerifyPruneCLI: pull from an OCI layout and a registry
// into a root, verify it, break it, and prune the store around it.
func TestWeightsPullVerifyPruneCLI(t *testing.T) {
	t.Setenv("COG_CACHE_DIR", filepath.Join(t.TempDir(), "store"))
	t.Setenv("COG_HOSTS_DIR", "")
	t.Setenv("COG_STORE_MAX_SIZE", "")
	files := map[string][]byte{"config.json": []byte(`{"a":1}`), "vocab.txt": bytes.Repeat([]byte("v"), 5000)}
	w := pulltest.Weight("minilm", "/src/weights/minilm", files, pack.Options{})

	// an OCI layout holding just the weight
	l := layoutWriter{t, t.TempDir()}
	for _, b := range w.Layers {
		l.put(b)
	}
	l.put(w.Config)
	md := l.put(w.Manifest)
	l.finish("w", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(w.Manifest))})

	root := filepath.Join(t.TempDir(), "root")
	out, err := pullCLI(t, ".", "pull", "oci-layout://"+l.dir+":w", "--dest", root)
	if err != nil || !strings.Contains(out, "placed") {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	out, err = pullCLI(t, ".", "verify", root)
	if err != nil || !strings.Contains(out, "minilm") || !strings.Contains(out, " ok ") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, err = pullCLI(t, ".", "verify", root, "--ref", "oci-layout://"+l.dir+":w")
	if err != nil || !strings.Contains(out, " ok ") {
		t.Fatalf("verify --ref: %v\n%s", err, out)
	}
	if out, err := pullCLI(t, ".", "verify", t.TempDir(), "--ref", "oci-layout://"+l.dir+":w"); err == nil || !strings.Contains(out, "missing") {
		t.Fatalf("verify --ref of an empty root: %v\n%s", err, out)
	}
	out, err = pullCLI(t, ".", "pull", "oci-layout://"+l.dir+":w", "--dest", root, "--json")
	if err != nil || !strings.Contains(out, `"outcome":"unchanged"`) {
		t.Fatalf("second pull: %v\n%s", err, out)
	}

	// from a registry, by tag, store only
	reg := registrytest.New()
	srv := registrytest.Serve(t, reg)
	pulltest.Publish(reg, "acct/m", "v1", w)
	if out, err := pullCLI(t, ".", "pull", registrytest.Host(srv)+"/acct/m:v1", "minilm"); err != nil || !strings.Contains(out, "stored") {
		t.Fatalf("registry pull: %v\n%s", err, out)
	}
	if out, err := pullCLI(t, ".", "pull", registrytest.Host(srv)+"/acct/m:v1", "nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown name: %v\n%s", err, out)
	}

	// a changed file
	p := filepath.Join(root, "src/weights/minilm/config.json")
	os.Remove(p)
	os.WriteFile(p, []byte(`{"a":2}`), 0o644)
	out, err = pullCLI(t, ".", "verify", root, "--json")
	var checks []map[string]string
	_ = json.Unmarshal([]byte(out), &checks)
	if err == nil || len(checks) != 1 || checks[0]["status"] != "changed" || checks[0]["file"] != "config.json" {
		t.Fatalf("verify of a changed file: %v\n%s", err, out)
	}

	// prune: the copy in the root is referenced by its ready marker (the
	// root was remembered), so nothing goes; without the root it would.
	st, _ := store.Open(os.Getenv("COG_CACHE_DIR"))
	st.Put(context.Background(), "", strings.NewReader("an orphan"))
	out, err = pullCLI(t, t.TempDir(), "prune", "--dry-run", "--json")
	var rep pruneReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("prune --json: %v\n%s", err, out)
	}
	if err != nil || len(rep.Removed) != 1 || !rep.DryRun {
		t.Fatalf("prune --dry-run: %v %+v", err, rep)
	}
	if out, err := pullCLI(t, t.TempDir(), "prune"); err != nil || !strings.Contains(out, "removed 1 blob") {
		t.Fatalf("prune: %v\n%s", err, out)
	}
	if out, err := pullCLI(t, ".", "verify", root); err == nil {
		t.Fatalf("verify still fails on the changed file:\n%s", out)
	}
	os.Remove(filepath.Join(root, "src/weights/minilm/.cog/ready"))
	if out, err := pullCLI(t, ".", "pull", "oci-layout://"+l.dir+":w", "--dest", root, "--max-store-size", "1GB"); err != nil || !strings.Contains(out, "placed") {
		t.Fatalf("repair: %v\n%s", err, out)
	}
	if out, err := pullCLI(t, ".", "verify", root); err != nil {
		t.Fatalf("verify after the repair: %v\n%s", err, out)
	}
	if _, err := pullCLI(t, ".", "pull", "oci-layout://"+l.dir+":w", "--max-store-size", "lots"); err == nil {
		t.Fatal("a bad size was accepted")
	}
}

func TestIsRef(t *testing.T) {
	for s, want := range map[string]bool{"minilm": false, "reg/repo:tag": true, "oci-layout://d": true, "r@sha256:x": true, "a.b-c": false} {
		if isRef(s) != want {
			t.Errorf("isRef(%q) = %v", s, !want)
		}
	}
}

func TestPullPrinterTerminalStatusLine(t *testing.T) {
	var buf bytes.Buffer
	p := newPullPrinter(&buf, &buf, false)
	p.tty = true
	l := digestOf("layer")
	p.event(pull.Event{Kind: pull.EventResume, Weight: "w", Layer: l, Bytes: 100, Total: 1000})
	p.begin = p.begin.Add(-time.Second)
	p.event(pull.Event{Kind: pull.EventProgress, Weight: "w", Layer: l, Bytes: 400, Total: 1000})
	p.event(pull.Event{Kind: pull.EventDone, Weight: "w", Layer: l, Bytes: 1000, Total: 1000})
	p.notice("copying")
	out := buf.String()
	for _, want := range []string{"resume", "\r\x1b[Kpulling: 300B of 900B, ", "B/s, ", "s left", "done", "notice: copying"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%q", want, out)
		}
	}
}

func digestOf(s string) digest.Digest { return digest.FromString(s) }
