// Command benchreport renders BENCHMARKS.md from the JSON-lines records the
// benchmarks of `make bench` write to $COG_BENCH_OUT (internal/benchrec):
// ratios against the peer tools first, with min/median/max over the runs,
// target and PASS/MISS; then absolute times, bytes read, peak RSS; then the
// machine and the tool versions, the mode and the date.
//
//	go run ./hack/benchreport -mode "default (BENCH_BYTES=...)" -o BENCHMARKS.md out/bench/*.jsonl
package main

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
	"github.com/cog-frontend/cog-frontend/internal/benchrec"
	"github.com/docker/go-units"
)

func main() {
	out := flag.String("o", "BENCHMARKS.md", "file to write")
	mode := flag.String("mode", "", "how the records were produced (the make command line)")
	dataDir := flag.String("data-dir", os.TempDir(), "directory the benchmarks' data lived in (for its file system)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "benchreport: no .jsonl files given; run `make bench`, which writes them to $COG_BENCH_OUT")
		os.Exit(2)
	}
	var recs []benchrec.Record
	for _, p := range flag.Args() {
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
			os.Exit(1)
		}
		rs, err := benchrec.Read(f, p)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
			os.Exit(1)
		}
		recs = append(recs, rs...)
	}
	md := render(recs, *mode, machine(*dataDir), time.Now().UTC())
	if err := atomicfile.WriteFile(*out, md, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "benchreport: wrote %s from %d records\n", *out, len(recs))
}

// stats is min, median and max of a series.
type stats struct{ min, med, max float64 }

func summarize(vs []float64) stats {
	s := slices.Clone(vs)
	sort.Float64s(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stats{s[0], med, s[n-1]}
}

type group struct {
	key  []string
	recs []benchrec.Record
}

// groupBy groups records by key, in the order keys first appear.
func groupBy(recs []benchrec.Record, key func(benchrec.Record) []string) []*group {
	var gs []*group
	idx := map[string]*group{}
	for _, r := range recs {
		k := key(r)
		ks := strings.Join(k, "\x00")
		g := idx[ks]
		if g == nil {
			g = &group{key: k}
			idx[ks] = g
			gs = append(gs, g)
		}
		g.recs = append(g.recs, r)
	}
	return gs
}

func ofKind(recs []benchrec.Record, kind string) []benchrec.Record {
	var out []benchrec.Record
	for _, r := range recs {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

func values(rs []benchrec.Record) []float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = r.Value
	}
	return vs
}

func format(v float64, unit string) string {
	switch unit {
	case benchrec.Seconds:
		switch {
		case v < 0.01:
			return fmt.Sprintf("%.2f ms", v*1000)
		case v < 10:
			return fmt.Sprintf("%.2f s", v)
		default:
			return fmt.Sprintf("%.1f s", v)
		}
	case benchrec.Bytes:
		return units.BytesSize(v)
	case benchrec.Times:
		return fmt.Sprintf("%.3f×", v)
	default:
		return fmt.Sprintf("%.4g %s", v, unit)
	}
}

func render(recs []benchrec.Record, mode string, mach [][2]string, now time.Time) []byte {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Benchmarks\n\n")
	p("Produced by `make bench` on %s, mode: **%s**. Every job and the tool a user would pick instead ran in the same run, on the same machine and data; each ratio is ours divided by the peer's (lower is better).\n\n",
		now.Format("2006-01-02 15:04 UTC"), orUnknown(mode))

	notes := map[string][]string{}
	for _, r := range ofKind(recs, benchrec.KindNote) {
		notes[r.Row] = append(notes[r.Row], r.Text)
	}
	p("## Ratios\n\n| job | compared with | data | runs | min | median | max | target | result |\n|---|---|---|---|---|---|---|---|---|\n")
	var missed []string
	ratios := append(ofKind(recs, benchrec.KindRatio), rssRatios(recs)...)
	for _, g := range groupBy(ratios, func(r benchrec.Record) []string { return []string{r.Row, r.Versus, fmt.Sprint(r.Size)} }) {
		s := summarize(values(g.recs))
		target := g.recs[0].Target
		result, want := "PASS", "≤ "+format(target, benchrec.Times)
		if target == 0 { // a comparison for information, with no target
			result, want = "-", "-"
		} else if s.med > target {
			result = "MISS"
			if !slices.Contains(missed, g.key[0]) {
				missed = append(missed, g.key[0])
			}
		}
		p("| %s | %s | %s | %d | %s | %s | %s | %s | %s |\n", g.key[0], g.key[1], sizeOf(g.recs[0]), len(g.recs),
			format(s.min, benchrec.Times), format(s.med, benchrec.Times), format(s.max, benchrec.Times), want, result)
	}
	p("\nA row passes when its median is at or under the target.\n")
	if len(missed) > 0 || len(notes) > 0 {
		p("\n### Why\n\n")
		rows := slices.Clone(missed)
		for _, r := range ofKind(recs, benchrec.KindNote) {
			if !slices.Contains(rows, r.Row) {
				rows = append(rows, r.Row)
			}
		}
		for _, row := range rows {
			tag := ""
			if slices.Contains(missed, row) {
				tag = " (MISS)"
			}
			ns := notes[row]
			if len(ns) == 0 {
				ns = []string{"no profile was recorded for this row"}
			}
			p("- **%s**%s: %s\n", row, tag, strings.Join(ns, " "))
		}
	}

	p("\n## Measurements\n\n| job | who | what | data | runs | min | median | max |\n|---|---|---|---|---|---|---|---|\n")
	vgroups := groupBy(ofKind(recs, benchrec.KindValue), func(r benchrec.Record) []string {
		return []string{r.Row, r.Subject, r.Metric, fmt.Sprint(r.Size), r.Unit}
	})
	// Within a job: times first, then what was moved, then resources.
	rowOrder := map[string]int{}
	for _, g := range vgroups {
		if _, ok := rowOrder[g.key[0]]; !ok {
			rowOrder[g.key[0]] = len(rowOrder)
		}
	}
	rank := map[string]int{"time": 0, "cpu": 1, "uploaded": 2, "downloaded": 2, "read": 3, "disk_read": 4, "peak_rss": 5}
	sort.SliceStable(vgroups, func(i, j int) bool {
		a, b := vgroups[i].key, vgroups[j].key
		if rowOrder[a[0]] != rowOrder[b[0]] {
			return rowOrder[a[0]] < rowOrder[b[0]]
		}
		return rank[a[2]] < rank[b[2]]
	})
	for _, g := range vgroups {
		s := summarize(values(g.recs))
		u := g.key[4]
		p("| %s | %s | %s | %s | %d | %s | %s | %s |\n", g.key[0], g.key[1], g.key[2], sizeOf(g.recs[0]), len(g.recs), format(s.min, u), format(s.med, u), format(s.max, u))
	}
	p("\ntime is wall-clock; disk_read is bytes read from storage (`/proc/<pid>/io` read_bytes, or rusage inblock of a child process), 0 when the page cache held everything; read is every byte the job read (page cache hits included); peak_rss is the largest resident set (of a child process: GNU time's maximum resident set); cpu is user+system time; uploaded is every request body byte sent to the registry (blobs and manifests), counted by a proxy in front of it; downloaded is blob bytes the registry served to the pull, counted the same way.\n")

	if setups := ofKind(recs, benchrec.KindSetup); len(setups) > 0 {
		p("\n## Data sets\n\n")
		for _, r := range setups {
			p("- %s\n", r.Text)
		}
	}

	p("\n## Machine\n\n| | |\n|---|---|\n")
	for _, kv := range mach {
		p("| %s | %s |\n", kv[0], kv[1])
	}
	p("\n## Tool versions\n\n| tool | version |\n|---|---|\n")
	seen := map[string]bool{}
	for _, r := range ofKind(recs, benchrec.KindTool) {
		if k := r.Subject + "\x00" + r.Text; !seen[k] {
			seen[k] = true
			p("| %s | %s |\n", r.Subject, strings.ReplaceAll(r.Text, "|", "\\|"))
		}
	}
	if out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output(); err == nil {
		p("| cog-frontend source (git describe) | %s |\n", strings.TrimSpace(string(out)))
	}
	p("| go (benchmarks) | %s |\n", runtime.Version())
	return b.Bytes()
}

func sizeOf(r benchrec.Record) string {
	if r.Size <= 0 {
		return "-"
	}
	return units.BytesSize(float64(r.Size))
}

// rssGrowth is the most a peak RSS may grow from the smallest to the
// largest data set of a job: it must not follow the data (4x between the
// two sizes of make bench), only noise and fixed costs.
const rssGrowth = 1.25

// rssRatios compares, for every job and program with peak_rss measured at
// two or more data sizes, the median at the largest size with the median at
// the smallest.
func rssRatios(recs []benchrec.Record) []benchrec.Record {
	var out []benchrec.Record
	for _, g := range groupBy(ofKind(recs, benchrec.KindValue), func(r benchrec.Record) []string { return []string{r.Row, r.Subject, r.Metric} }) {
		if g.key[2] != "peak_rss" {
			continue
		}
		bySize := map[int64][]float64{}
		for _, r := range g.recs {
			bySize[r.Size] = append(bySize[r.Size], r.Value)
		}
		if len(bySize) < 2 {
			continue
		}
		sizes := slices.Sorted(maps.Keys(bySize))
		lo, hi := sizes[0], sizes[len(sizes)-1]
		small := summarize(bySize[lo]).med
		for _, v := range bySize[hi] {
			out = append(out, benchrec.Record{Kind: benchrec.KindRatio, Row: g.key[0] + ": peak RSS of " + g.key[1],
				Versus: "its peak RSS at " + units.BytesSize(float64(lo)), Value: v / small, Target: rssGrowth, Size: hi})
		}
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown (benchreport -mode was not given)"
	}
	return s
}

// machine describes this machine: CPU model, cores, RAM, kernel and the
// file system holding dataDir.
func machine(dataDir string) [][2]string {
	cpu := "unknown"
	if dt, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(dt), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		if strings.Contains(string(dt), " sha_ni") {
			cpu += " (SHA-NI)"
		}
	}
	ram := "unknown"
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		ram = units.BytesSize(float64(si.Totalram) * float64(si.Unit))
	}
	kernel := "unknown"
	if dt, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(dt))
	}
	return [][2]string{
		{"CPU", cpu},
		{"cores", fmt.Sprint(runtime.NumCPU())},
		{"RAM", ram},
		{"kernel", kernel},
		{"file system of " + dataDir, fsType(dataDir)},
	}
}

// fsType finds the mount holding dir in /proc/self/mountinfo (the longest
// mount point that prefixes it) and returns its type and source.
func fsType(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "unknown"
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	dt, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "unknown"
	}
	best, fs := "", "unknown"
	for _, l := range strings.Split(string(dt), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 2 {
			continue
		}
		mp := f[4]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, fs = mp, g[0]+" ("+g[1]+" on "+mp+")"
		}
	}
	return fs
}
