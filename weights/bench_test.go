package weights

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/internal/benchrec"
	"github.com/cog-frontend/cog-frontend/internal/weightgen"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// Rows of BENCHMARKS.md this file measures.
const (
	rowImport   = "weights import"
	rowReimport = "re-import unchanged"
)

// BenchmarkImport measures, in one run and on the same files:
//   - one `openssl dgst -sha256` process over every file (SHA-NI where the
//     CPU has it: the single-stream hashing limit) and one `sha256sum`
//     process, the floor for anything that must hash every byte once;
//   - a fresh import (empty store and stat cache, no weights.lock), as a
//     ratio to openssl (target <= 1.15): import hashes a large file twice
//     (its digest and its tar layer's), so it only gets there by running
//     both hashes in parallel from one read;
//   - a re-import with nothing changed, as a ratio to the fresh import
//     (target <= 0.02);
//   - an import on a "fresh clone" (lock present, empty stat cache): files
//     are hashed once, no layer is rebuilt;
//   - bytes the import read (rchar: once per byte is the goal) and read from
//     storage (read_bytes; 0 when the page cache holds the files), and its
//     peak RSS, at this size and at a quarter of it (RSS must not grow with
//     the weights).
//
// The weight set is $COG_BENCH_BYTES (default 4 GiB, the size),
// a few large files and a few hundred small ones (weightgen.OfSize); small
// files are kept small on purpose: bundles must use Go's gzip level 9 for
// byte compatibility with Cog, which compresses text at only a few MB/s
// per core. $COG_BENCH_RUNS runs (default 1); records go to
// $COG_BENCH_OUT/import.jsonl for BENCHMARKS.md. The fixtures go to
// $COG_BENCH_DIR (default: the temp dir) and are removed afterwards.
//
//	COG_BENCH_BYTES=1073741824 COG_BENCH_RUNS=3 go test ./weights -run '^$' -bench Import -benchtime 1x
func BenchmarkImport(b *testing.B) {
	rec := benchrec.New(b, "import")
	total := benchrec.Size(b, 4<<30)
	root, err := os.MkdirTemp(os.Getenv("COG_BENCH_DIR"), "cog-weights-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(root) })
	fx := newImportFixture(b, root, "big", total)
	openssl, sha256sum := lookTool(b, "openssl", "openssl"), lookTool(b, "sha256sum", "coreutils")
	rec.Tool("openssl", openssl, "version")
	rec.Tool("sha256sum", sha256sum, "--version")
	rec.Setup(fmt.Sprintf("weights import: %s in %d files (%d large, one layer each; %d small, bundled), page cache warm for every contender",
		mibString(fx.size), len(fx.files), fx.spec.LargeFiles, fx.spec.SmallFiles))

	// One process each over every file, reading from the page cache (warmed
	// by the first call).
	hashAll := func(bin string, args ...string) benchrec.Proc {
		p, err := benchrec.Command(context.Background(), fx.src, nil, bin, append(args, fx.paths()...)...)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	hashAll(openssl, "dgst", "-sha256")

	var ratios []float64
	b.ResetTimer()
	for i := range benchrec.Runs(b) {
		// Interleaved per run so that a slow moment of the machine hits
		// every contender alike.
		op, sp := hashAll(openssl, "dgst", "-sha256"), hashAll(sha256sum)
		osl, sum := op.Wall, sp.Wall
		m := fx.importFresh(b)
		again := fx.reimport(b)
		clone := fx.cloneImport(b)

		ratios = append(ratios, m.d.Seconds()/osl.Seconds())
		rec.Ratio(rowImport, "one `openssl dgst -sha256` process", i, m.d.Seconds()/osl.Seconds(), 1.15, fx.size)
		rec.Ratio(rowImport, "one `sha256sum` process", i, m.d.Seconds()/sum.Seconds(), 0, fx.size)
		rec.Ratio(rowReimport, "the first import", i, again.Seconds()/m.d.Seconds(), 0.02, fx.size)
		rec.Value(rowImport, "cog-frontend", "time", i, m.d.Seconds(), benchrec.Seconds, fx.size)
		rec.Value(rowImport, "openssl dgst -sha256", "time", i, osl.Seconds(), benchrec.Seconds, fx.size)
		rec.Value(rowImport, "sha256sum", "time", i, sum.Seconds(), benchrec.Seconds, fx.size)
		rec.Value(rowReimport, "cog-frontend", "time", i, again.Seconds(), benchrec.Seconds, fx.size)
		rec.Value("import on a fresh clone (lock present, no stat cache)", "cog-frontend", "time", i, clone.Seconds(), benchrec.Seconds, fx.size)
		rec.Value(rowImport, "cog-frontend", "read", i, float64(m.io.RChar), benchrec.Bytes, fx.size)
		rec.Value(rowImport, "cog-frontend", "disk_read", i, float64(m.io.ReadBytes), benchrec.Bytes, fx.size)
		rec.Value(rowImport, "cog-frontend", "peak_rss", i, float64(m.rss), benchrec.Bytes, fx.size)
		rec.Value(rowImport, "openssl dgst -sha256", "disk_read", i, float64(op.DiskRead), benchrec.Bytes, fx.size)
		rec.Value(rowImport, "openssl dgst -sha256", "peak_rss", i, float64(op.PeakRSS), benchrec.Bytes, fx.size)
		rec.Value(rowImport, "sha256sum", "peak_rss", i, float64(sp.PeakRSS), benchrec.Bytes, fx.size)
		b.ReportMetric(float64(fx.size)/(1<<30), "GiB")
		b.ReportMetric(osl.Seconds(), "openssl-s")
		b.ReportMetric(sum.Seconds(), "sha256sum-s")
		b.ReportMetric(m.d.Seconds(), "import-s")
		b.ReportMetric(m.d.Seconds()/osl.Seconds(), "x-openssl")
		b.ReportMetric(again.Seconds()/m.d.Seconds(), "x-reimport")
		b.ReportMetric(clone.Seconds(), "clone-import-s")
		b.ReportMetric(float64(m.io.RChar)/float64(fx.size), "x-read")
		b.ReportMetric(float64(m.rss)/(1<<20), "peak-RSS-MiB")
	}
	b.StopTimer()

	// The same import at a quarter of the size: peak RSS must not follow
	// the data.
	small := newImportFixture(b, root, "quarter", max(total/4, 16<<20))
	// (BENCHMARKS.md compares the two sizes.)
	sm := small.importFresh(b)
	rec.Value(rowImport, "cog-frontend", "peak_rss", 0, float64(sm.rss), benchrec.Bytes, small.size)
	b.Logf("peak RSS: %s for %s", mibString(sm.rss), mibString(small.size))
	small.remove()

	if med := median(ratios); med > 1.15 {
		rec.Note(rowImport, fx.profile(b))
	}
}

// importFixture is a project directory with one weight, "weights/<name>",
// and a store per import.
type importFixture struct {
	root, src string
	spec      weightgen.Spec
	files     []weightgen.File
	size      int64
	cfg       *config.Config
	opts      ImportOptions
}

func newImportFixture(b *testing.B, parent, name string, total int64) *importFixture {
	root := filepath.Join(parent, name)
	fx := &importFixture{root: root, src: filepath.Join(root, "weights", name), spec: weightgen.OfSize(42, total, pack.DefaultBundleFileMax)}
	var err error
	if fx.files, err = weightgen.Generate(fx.src, fx.spec); err != nil {
		b.Fatal(err)
	}
	// Files a user imports were not written in the last second (racyWindow).
	old := time.Now().Add(-time.Hour)
	for _, f := range fx.files {
		fx.size += f.Size
		os.Chtimes(filepath.Join(fx.src, filepath.FromSlash(f.Path)), old, old)
	}
	fx.cfg = &config.Config{Model: "r.example/m", Weights: []config.Weight{{Name: name, Target: "/src/weights/" + name,
		Sources: []config.WeightSource{{URI: "weights/" + name}}}}}
	return fx
}

func (fx *importFixture) paths() []string {
	ps := make([]string, len(fx.files))
	for i, f := range fx.files {
		ps[i] = filepath.FromSlash(f.Path)
	}
	return ps
}

func (fx *importFixture) remove() { os.RemoveAll(fx.root) }

// importMeasure is one fresh import: its time, I/O and peak RSS.
type importMeasure struct {
	d   time.Duration
	io  benchrec.IO
	rss int64
}

// importFresh imports with no weights.lock and an empty store.
func (fx *importFixture) importFresh(b *testing.B) importMeasure {
	os.Remove(filepath.Join(fx.root, "weights.lock"))
	storeDir := filepath.Join(fx.root, ".store")
	os.RemoveAll(storeDir)
	st, err := store.Open(storeDir)
	if err != nil {
		b.Fatal(err)
	}
	fx.opts = ImportOptions{ProjectDir: fx.root, Config: fx.cfg, Store: st}
	if err := benchrec.ResetPeakRSS(); err != nil {
		b.Fatalf("resetting the peak RSS (/proc/self/clear_refs): %v", err)
	}
	before, err := benchrec.SelfIO()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := Import(context.Background(), fx.opts); err != nil {
		b.Fatal(err)
	}
	m := importMeasure{d: time.Since(start)}
	after, err := benchrec.SelfIO()
	if err != nil {
		b.Fatal(err)
	}
	m.io = benchrec.IO{RChar: after.RChar - before.RChar, ReadBytes: after.ReadBytes - before.ReadBytes}
	if m.rss, err = benchrec.PeakRSS(); err != nil {
		b.Fatal(err)
	}
	return m
}

// reimport imports again with nothing changed; it must be a no-op.
func (fx *importFixture) reimport(b *testing.B) time.Duration {
	start := time.Now()
	res, err := Import(context.Background(), fx.opts)
	if err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	if res.Weights[0].Status != StatusUnchanged || res.Weights[0].PackedLayers != 0 {
		b.Fatalf("re-import was not a no-op: %+v", res.Weights[0])
	}
	return d
}

// cloneImport imports as on a fresh clone: weights.lock present, store and
// stat cache empty. Files are hashed once, no layer is rebuilt.
func (fx *importFixture) cloneImport(b *testing.B) time.Duration {
	storeDir := filepath.Join(fx.root, ".store")
	os.RemoveAll(storeDir)
	st, err := store.Open(storeDir)
	if err != nil {
		b.Fatal(err)
	}
	fx.opts.Store = st
	start := time.Now()
	res, err := Import(context.Background(), fx.opts)
	if err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	if res.Weights[0].Status != StatusUnchanged || res.Weights[0].PackedLayers != 0 {
		b.Fatalf("clone import repacked: %+v", res.Weights[0])
	}
	return d
}

// profile runs one more fresh import under the CPU profiler and returns
// the top of `go tool pprof -top`, for BENCHMARKS.md to say where the time
// went.
func (fx *importFixture) profile(b *testing.B) string {
	p := filepath.Join(fx.root, "import.pprof")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	m := fx.importFresh(b)
	pprof.StopCPUProfile()
	f.Close()
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=6", p).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("profiled import took %s; go tool pprof failed: %v", m.d.Round(time.Millisecond), err)
	}
	var top []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 && strings.HasSuffix(f[1], "%") && f[1] != "flat%" {
			top = append(top, fmt.Sprintf("%s %s", strings.Join(f[5:], " "), f[1]))
		}
	}
	return fmt.Sprintf("a profiled import (%s, %d CPUs) spends its CPU time in (flat): %s.", m.d.Round(time.Millisecond), runtime.NumCPU(), strings.Join(top, ", "))
}

// lookTool finds a command on PATH or fails saying which package has it.
func lookTool(b *testing.B, name, pkg string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		b.Fatalf("%s not found on PATH; install it (Debian: apt-get install %s)", name, pkg)
	}
	return p
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	sort.Float64s(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func mibString(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
