package weights

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// blockingReader announces that packing is under way (its ingest exists)
// and then never returns: a process stuck there is killed by the test.
type blockingReader struct {
	io.ReadCloser
	ready string
}

func (r *blockingReader) Read([]byte) (int, error) {
	os.WriteFile(r.ready, nil, 0o644)
	select {}
}

// killedImportChild is the child process of TestImportCleansIngestsOfAKilledImport:
// an import of $COG_TEST_PROJECT into the store $COG_TEST_STORE that stops
// in the middle of packing its gzip bundle.
func killedImportChild() {
	proj, ready := os.Getenv("COG_TEST_PROJECT"), os.Getenv("COG_TEST_READY")
	st, err := store.Open(os.Getenv("COG_TEST_STORE"))
	if err != nil {
		panic(err)
	}
	orig := openWeightFile
	openWeightFile = func(name string) (io.ReadCloser, error) {
		f, err := orig(name)
		return &blockingReader{ReadCloser: f, ready: ready}, err
	}
	cfg := &config.Config{Weights: []config.Weight{{Name: "w", Target: "/src/w", Sources: []config.WeightSource{{URI: "weights/w"}}}}}
	_, err = Import(context.Background(), ImportOptions{ProjectDir: proj, Config: cfg, Store: st})
	panic(err) // not reached: the reader blocks
}

func TestImportCleansIngestsOfAKilledImport(t *testing.T) {
	if os.Getenv("COG_TEST_PROJECT") != "" {
		killedImportChild()
		return
	}
	storeDir := t.TempDir()
	newProj := func() string {
		dir := t.TempDir()
		writeTree(t, filepath.Join(dir, "weights", "w"), map[string]string{"a.json": "{}", "b.json": "[]"})
		return dir
	}
	ingests := func() []string {
		ents, err := os.ReadDir(filepath.Join(storeDir, "ingest"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	// start runs an import in a child process until it is packing.
	start := func(proj string) *exec.Cmd {
		ready := filepath.Join(t.TempDir(), "ready")
		cmd := exec.Command(os.Args[0], "-test.run=^TestImportCleansIngestsOfAKilledImport$")
		cmd.Env = append(os.Environ(), "COG_TEST_PROJECT="+proj, "COG_TEST_STORE="+storeDir, "COG_TEST_READY="+ready)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(ready); err == nil {
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatal("the child import never reached packing")
			}
		}
	}

	// An import that keeps running, packing into the store, throughout.
	running := start(newProj())
	live := ingests()
	if len(live) != 1 {
		t.Fatalf("ingests while one import packs: %v, want 1", live)
	}
	// An import killed while it packs.
	killed := start(newProj())
	if err := killed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.Wait()
	left := ingests()
	if len(left) != 2 {
		t.Fatalf("ingests with one killed and one running import: %v, want 2", left)
	}

	// The next run: a new process opens the store.
	st, err := store.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	proj := newProj()
	cfg := &config.Config{Weights: []config.Weight{{Name: "w", Target: "/src/w", Sources: []config.WeightSource{{URI: "weights/w"}}}}}
	if _, err := Import(context.Background(), ImportOptions{ProjectDir: proj, Config: cfg, Store: st}); err != nil {
		t.Fatal(err)
	}
	if after := ingests(); len(after) != 1 || after[0] != live[0] {
		t.Errorf("ingests after the next run: %v; want only the running import's %s (of %v)", after, live[0], left)
	}
	if err := running.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	running.Wait()
}
