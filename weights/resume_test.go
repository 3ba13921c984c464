package weights

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/cog-frontend/cog-frontend/weights/pack"
)

// An import interrupted after some layers were packed continues where it
// stopped: the next run reads only the files of the unfinished layers.
func TestImportInterruptedContinuesWhereItStopped(t *testing.T) {
	p := newProject(t, map[string]string{
		"a.safetensors": strings.Repeat("a", 4096), // raw layer
		"b.bin":         strings.Repeat("b", 4096), // gzip layer
		"c.safetensors": strings.Repeat("c", 4096), // raw layer, interrupted
		"small.json":    "{}",                      // bundle
	})
	packOpts := pack.Options{BundleFileMax: 1024}
	// One layer at a time, largest work first: b.bin, a, then c (cancelled
	// while opened), so small.json's bundle is never started.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var mu sync.Mutex
	var opened []string
	orig := openWeightFile
	t.Cleanup(func() { openWeightFile = orig })
	ctx, cancel := context.WithCancel(context.Background())
	openWeightFile = func(name string) (io.ReadCloser, error) {
		mu.Lock()
		opened = append(opened, filepath.Base(name))
		mu.Unlock()
		if filepath.Base(name) == "c.safetensors" && ctx.Err() == nil {
			cancel() // Ctrl-C while this file is read
			return nil, context.Canceled
		}
		return orig(name)
	}
	o := p.importOpts()
	o.Pack = packOpts
	if _, err := Import(ctx, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted import: %v", err)
	}
	opened = nil
	r := p.imp(t, func(o *ImportOptions) { o.Pack = packOpts })
	if strings.Join(opened, ",") != "c.safetensors,small.json" {
		t.Errorf("the re-run read %v; want only the files of the unfinished layers", opened)
	}
	if r.Weights[0].Layers != 4 || r.Weights[0].PackedLayers != 2 {
		t.Errorf("re-run: %+v", r.Weights[0])
	}
	// The lock is the one an uninterrupted import writes.
	_, got := p.lock(t)
	q := newProject(t, map[string]string{"a.safetensors": strings.Repeat("a", 4096), "b.bin": strings.Repeat("b", 4096),
		"c.safetensors": strings.Repeat("c", 4096), "small.json": "{}"})
	q.imp(t, func(o *ImportOptions) { o.Pack = packOpts })
	if _, want := q.lock(t); string(got) != string(want) {
		t.Errorf("lock after the resumed import differs from a clean import:\n%s\n%s", got, want)
	}
}
