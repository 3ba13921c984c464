package weights

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/internal/weightgen"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// benchSpec is a ~4 GiB weight: six large .safetensors files (raw layers)
// and 300 small JSON/text files of up to 64 KiB (~10 MiB in gzip bundles),
// like a sharded LLM with its tokenizer and configs. Small files are kept
// small on purpose: bundles must use Go's gzip level 9 for byte
// compatibility with Cog, which compresses text at only a few MB/s per core,
// so a fixture with hundreds of MiB of text would measure deflate, not the
// import.
var benchSpec = weightgen.Spec{
	Seed: 42, LargeFiles: 6, LargeMin: 640 << 20, LargeMax: 680 << 20,
	SmallFiles: 300, SmallMin: 512, SmallMax: 64 << 10, MaxDepth: 2,
}

// BenchmarkImport measures, in one run and on the same files:
//   - sha256sum over every file, run in parallel on all cores (the floor
//     for anything that must hash every byte);
//   - a fresh import (empty store and stat cache, no weights.lock), reported
//     as a ratio to sha256sum (target <= 1.15);
//   - a re-import with nothing changed, as a percentage of the fresh import
//     (target < 2);
//   - an import on a "fresh clone" (lock present, empty stat cache): files
//     are hashed once, no layer is rebuilt;
//   - the peak RSS of the process (target well under 200 MiB).
//
// The fixture goes to $COG_BENCH_DIR (default: the temp dir) and is removed
// afterwards. Run: go test ./weights -run '^$' -bench Import -benchtime 1x
func BenchmarkImport(b *testing.B) {
	root, err := os.MkdirTemp(os.Getenv("COG_BENCH_DIR"), "cog-weights-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(root) })
	src := filepath.Join(root, "weights", "big")
	files, err := weightgen.Generate(src, benchSpec)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	// Files a user imports were not written in the last second (racyWindow).
	old := time.Now().Add(-time.Hour)
	for _, f := range files {
		os.Chtimes(filepath.Join(src, filepath.FromSlash(f.Path)), old, old)
	}
	cfg := &config.Config{Model: "r.example/m", Weights: []config.Weight{{Name: "big", Target: "/src/weights/big",
		Sources: []config.WeightSource{{URI: "weights/big"}}}}}

	// Both contenders read from the page cache: warm it once.
	shaSum := func() time.Duration {
		start := time.Now()
		cmd := exec.Command("sh", "-c", fmt.Sprintf("find . -type f -print0 | xargs -0 -P %d -n 4 sha256sum > /dev/null", runtime.NumCPU()))
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v: %s", err, out)
		}
		return time.Since(start)
	}
	shaSum()

	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		base := shaSum()
		os.Remove(filepath.Join(root, "weights.lock"))
		storeDir := filepath.Join(root, fmt.Sprintf("store-%d", time.Now().UnixNano()))
		st, err := store.Open(storeDir)
		if err != nil {
			b.Fatal(err)
		}
		opts := ImportOptions{ProjectDir: root, Config: cfg, Store: st}
		b.StartTimer()

		start := time.Now()
		if _, err := Import(context.Background(), opts); err != nil {
			b.Fatal(err)
		}
		fresh := time.Since(start)

		b.StopTimer()
		start = time.Now()
		res, err := Import(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		again := time.Since(start)
		if res.Weights[0].Status != StatusUnchanged || res.Weights[0].PackedLayers != 0 {
			b.Fatalf("re-import was not a no-op: %+v", res.Weights[0])
		}
		// A fresh clone: weights.lock present, store and stat cache empty.
		os.RemoveAll(storeDir)
		if opts.Store, err = store.Open(storeDir); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if res, err = Import(context.Background(), opts); err != nil {
			b.Fatal(err)
		}
		clone := time.Since(start)
		if res.Weights[0].Status != StatusUnchanged || res.Weights[0].PackedLayers != 0 {
			b.Fatalf("clone import repacked: %+v", res.Weights[0])
		}
		os.RemoveAll(storeDir)
		b.ReportMetric(clone.Seconds(), "clone-import-s")
		b.StartTimer()

		b.ReportMetric(float64(total)/(1<<30), "GiB")
		b.ReportMetric(base.Seconds(), "sha256sum-s")
		b.ReportMetric(fresh.Seconds(), "import-s")
		b.ReportMetric(fresh.Seconds()/base.Seconds(), "x-sha256sum")
		b.ReportMetric(again.Seconds()*1000, "reimport-ms")
		b.ReportMetric(100*again.Seconds()/fresh.Seconds(), "reimport-%")
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB") // Linux reports KiB
	}
}
