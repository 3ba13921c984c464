package benchrec

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestRecordsRoundTripThroughTheFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("COG_BENCH_OUT", dir)
	t.Run("bench", func(t *testing.T) {
		w := New(t, "x")
		w.Ratio("row", "peer", 1, 0.5, 1.0, 1<<20)
		w.Value("row", "us", "time", 1, 2.5, Seconds, 1<<20)
	})
	dt, err := os.ReadFile(filepath.Join(dir, "x.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Read(bytes.NewReader(dt), "x.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Kind != KindRatio || recs[0].Value != 0.5 || recs[0].Target != 1 ||
		recs[1].Kind != KindValue || recs[1].Size != 1<<20 || recs[1].Unit != Seconds {
		t.Errorf("read back %+v", recs)
	}
	if _, err := Read(bytes.NewReader([]byte("{\n")), "bad.jsonl"); err == nil {
		t.Error("a broken line was accepted")
	}
}

// The child's peak RSS is its own, not the (larger) test process's that
// a vfork'd child would inherit into its rusage.
func TestCommandMeasuresTheChildsOwnPeakRSS(t *testing.T) {
	ballast := make([]byte, 96<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	p, err := Command(context.Background(), "", nil, "true")
	if err != nil {
		t.Fatal(err)
	}
	if p.PeakRSS <= 0 || p.PeakRSS > 32<<20 {
		t.Errorf("peak RSS of `true` = %d bytes, want a few MiB (the test process holds 96 MiB)", p.PeakRSS)
	}
	runtime.KeepAlive(ballast)
	p, err = Command(context.Background(), "", nil, "python3", "-c", "x = bytearray(80 << 20)")
	if err != nil {
		t.Fatal(err)
	}
	if p.PeakRSS < 80<<20 {
		t.Errorf("peak RSS of a process holding 80 MiB = %d bytes", p.PeakRSS)
	}
	if _, err := Command(context.Background(), "", nil, "false"); err == nil {
		t.Error("a failing command returned no error")
	}
}

func TestPeakRSSResets(t *testing.T) {
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = 1
	}
	runtime.KeepAlive(big)
	before, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	big = nil
	if err := ResetPeakRSS(); err != nil {
		t.Fatal(err)
	}
	after, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if before < 64<<20 || after >= before-32<<20 {
		t.Errorf("peak RSS %d before the reset, %d after: want it to drop by the freed 64 MiB", before, after)
	}
}
