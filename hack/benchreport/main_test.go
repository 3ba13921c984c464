package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/internal/benchrec"
)

func TestSummarizeOddAndEven(t *testing.T) {
	if s := summarize([]float64{3, 1, 2}); s != (stats{1, 2, 3}) {
		t.Errorf("summarize(3,1,2) = %+v, want {1 2 3}", s)
	}
	if s := summarize([]float64{4, 1, 2, 3}); s != (stats{1, 2.5, 4}) {
		t.Errorf("summarize(4,1,2,3) = %+v, want {1 2.5 4}", s)
	}
}

// A row passes on its median, a row without a target is information only,
// and a missed row is written as it is with its why.
func TestRenderRatiosTargetsAndWhy(t *testing.T) {
	recs := []benchrec.Record{
		{Kind: benchrec.KindRatio, Row: "weights import", Versus: "openssl", Value: 1.0, Target: 1.15, Run: 0},
		{Kind: benchrec.KindRatio, Row: "weights import", Versus: "openssl", Value: 2.0, Target: 1.15, Run: 1},
		{Kind: benchrec.KindRatio, Row: "weights import", Versus: "openssl", Value: 1.1, Target: 1.15, Run: 2},
		{Kind: benchrec.KindRatio, Row: "first push", Versus: "crane", Value: 0.9, Target: 0.8, Run: 0},
		{Kind: benchrec.KindRatio, Row: "weights import", Versus: "sha256sum", Value: 0.3, Run: 0},
		{Kind: benchrec.KindNote, Row: "first push", Text: "uploads wait on the registry."},
		{Kind: benchrec.KindValue, Row: "weights import", Subject: "cog-frontend", Metric: "peak_rss", Value: 20 << 20, Unit: benchrec.Bytes, Size: 1 << 30},
		{Kind: benchrec.KindValue, Row: "weights import", Subject: "cog-frontend", Metric: "time", Value: 1.5, Unit: benchrec.Seconds, Size: 1 << 30},
		{Kind: benchrec.KindValue, Row: "weights import", Subject: "cog-frontend", Metric: "peak_rss", Value: 19 << 20, Unit: benchrec.Bytes, Size: 256 << 20},
		{Kind: benchrec.KindValue, Row: "pull", Subject: "us", Metric: "peak_rss", Value: 200 << 20, Unit: benchrec.Bytes, Size: 1 << 30},
		{Kind: benchrec.KindValue, Row: "pull", Subject: "us", Metric: "peak_rss", Value: 50 << 20, Unit: benchrec.Bytes, Size: 256 << 20},
		{Kind: benchrec.KindTool, Subject: "openssl", Text: "OpenSSL 3.0.19"},
		{Kind: benchrec.KindTool, Subject: "openssl", Text: "OpenSSL 3.0.19"},
	}
	md := string(render(recs, "default (BENCH_BYTES=1)", [][2]string{{"CPU", "test"}}, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)))
	for _, want := range []string{
		"| weights import | openssl | - | 3 | 1.000× | 1.100× | 2.000× | ≤ 1.150× | PASS |",
		"| first push | crane | - | 1 | 0.900× | 0.900× | 0.900× | ≤ 0.800× | MISS |",
		"| weights import | sha256sum | - | 1 | 0.300× | 0.300× | 0.300× | - | - |",
		"- **first push** (MISS): uploads wait on the registry.",
		"mode: **default (BENCH_BYTES=1)**",
		// peak RSS at two sizes: flat passes, growing with the data misses
		"| weights import: peak RSS of cog-frontend | its peak RSS at 256MiB | 1GiB | 1 | 1.053× | 1.053× | 1.053× | ≤ 1.250× | PASS |",
		"| pull: peak RSS of us | its peak RSS at 256MiB | 1GiB | 1 | 4.000× | 4.000× | 4.000× | ≤ 1.250× | MISS |",
		"| CPU | test |",
		"| openssl | OpenSSL 3.0.19 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, md)
		}
	}
	if strings.Count(md, "| openssl | OpenSSL") != 1 {
		t.Errorf("a tool version recorded twice is listed twice:\n%s", md)
	}
	// Times before resources within a job.
	if strings.Index(md, "| time |") > strings.Index(md, "| peak_rss |") {
		t.Errorf("time is listed after peak_rss:\n%s", md)
	}
}
