// Package benchrec records benchmark measurements as JSON lines, one file
// per benchmark under $COG_BENCH_OUT, for hack/benchreport to render into
// BENCHMARKS.md. Without COG_BENCH_OUT nothing is written: a benchmark run
// by hand still reports through testing.B as usual.
package benchrec

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
)

// Kinds of record.
const (
	KindRatio = "ratio" // Value is ours divided by the peer's; Target is the largest that passes
	KindValue = "value" // an absolute measurement: a time, bytes, peak RSS
	KindTool  = "tool"  // Subject's version is Text
	KindNote  = "note"  // Text says why Row is where it is (a profile summary, the dominant step)
	KindSetup = "setup" // Metric=Text describes the data set or mode of the benchmark
)

// Units.
const (
	Seconds = "s"
	Bytes   = "B"
	Times   = "x"
)

// Record is one line of a .jsonl file.
type Record struct {
	Kind    string  `json:"kind"`
	Row     string  `json:"row,omitempty"`     // the job, as BENCHMARKS.md names it
	Subject string  `json:"subject,omitempty"` // who was measured: cog-frontend, openssl, crane ...
	Metric  string  `json:"metric,omitempty"`  // time, disk_read, peak_rss, uploaded ...
	Versus  string  `json:"versus,omitempty"`  // ratio: what ours is compared with
	Value   float64 `json:"value"`
	Unit    string  `json:"unit,omitempty"`
	Target  float64 `json:"target,omitempty"` // ratio: the largest value that passes
	Run     int     `json:"run"`
	Size    int64   `json:"size,omitempty"` // bytes of the data set this run used
	Text    string  `json:"text,omitempty"`
}

// Writer collects the records of one benchmark and writes them when the
// benchmark ends.
type Writer struct {
	mu   sync.Mutex
	path string
	recs []Record
}

// New returns the writer of $COG_BENCH_OUT/<name>.jsonl, written atomically
// at the end of b; a no-op writer when COG_BENCH_OUT is unset.
func New(b testing.TB, name string) *Writer {
	w := &Writer{}
	dir := os.Getenv("COG_BENCH_OUT")
	if dir == "" {
		return w
	}
	w.path = filepath.Join(dir, name+".jsonl")
	b.Cleanup(func() {
		if err := w.flush(); err != nil {
			b.Errorf("writing benchmark records: %v", err)
		}
	})
	return w
}

// Add records r.
func (w *Writer) Add(r Record) {
	w.mu.Lock()
	w.recs = append(w.recs, r)
	w.mu.Unlock()
}

// Ratio records ours/peer for row on a data set of size bytes (0: none);
// target 0 is a comparison for information only.
func (w *Writer) Ratio(row, versus string, run int, ratio, target float64, size int64) {
	w.Add(Record{Kind: KindRatio, Row: row, Versus: versus, Metric: "ratio", Value: ratio, Unit: Times, Target: target, Run: run, Size: size})
}

// Value records an absolute measurement.
func (w *Writer) Value(row, subject, metric string, run int, v float64, unit string, size int64) {
	w.Add(Record{Kind: KindValue, Row: row, Subject: subject, Metric: metric, Value: v, Unit: unit, Run: run, Size: size})
}

// Note records why row stands where it does.
func (w *Writer) Note(row, text string) {
	w.Add(Record{Kind: KindNote, Row: row, Text: text})
}

// Setup records a fact about the data set or the mode.
func (w *Writer) Setup(text string) {
	w.Add(Record{Kind: KindSetup, Text: text})
}

// Tool records the version of the tool at path, the first line of what
// `path args...` prints (args: "version", "--version" ...).
func (w *Writer) Tool(name, path string, args ...string) {
	out, err := exec.Command(path, args...).CombinedOutput()
	v := strings.TrimSpace(string(out))
	if err != nil {
		v = fmt.Sprintf("unknown (%s %s: %v)", path, strings.Join(args, " "), err)
	}
	if i := strings.IndexByte(v, '\n'); i >= 0 {
		v = v[:i]
	}
	w.Add(Record{Kind: KindTool, Subject: name, Text: v})
}

func (w *Writer) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(w.path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(w.path, 0o644, func(f io.Writer) error {
		bw := bufio.NewWriter(f)
		enc := json.NewEncoder(bw)
		for _, r := range w.recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return bw.Flush()
	})
}

// Read parses a .jsonl file of records.
func Read(r io.Reader, name string) ([]Record, error) {
	var recs []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %v; delete the file and run the benchmark again", name, line, err)
		}
		recs = append(recs, rec)
	}
	return recs, sc.Err()
}

// Runs is $COG_BENCH_RUNS, the number of measured runs of each
// comparison (default 1). Benchmarks loop over it themselves and run with
// -benchtime 1x: with Nx, Go's testing first runs every benchmark once
// with b.N=1, which would build every fixture twice.
func Runs(b testing.TB) int {
	s := os.Getenv("COG_BENCH_RUNS")
	if s == "" {
		return 1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("COG_BENCH_RUNS=%q: want a positive number of runs", s)
	}
	return n
}

// Size is $COG_BENCH_BYTES, the size of the weight sets, else def; at
// least 16 MiB.
func Size(b testing.TB, def int64) int64 {
	s := os.Getenv("COG_BENCH_BYTES")
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 16<<20 {
		b.Fatalf("COG_BENCH_BYTES=%q: want a byte count of at least 16 MiB (16777216)", s)
	}
	return n
}
