//go:build e2e

package e2e

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/internal/weightgen"
)

func TestWeightsReliabilityProgressOnAPipe(t *testing.T) {
	e := testEnv(t)
	tiny := weightgen.Spec{Seed: 5, SmallFiles: 4, SmallMin: 10, SmallMax: 100}
	dir := reliabilityProject(t, e, []string{"big", "tiny"}, map[string]weightgen.Spec{"big": slowSpec, "tiny": tiny})
	start := time.Now()
	_, stderr, code := runSplit(t, dir, e.Binary, "weights", "import")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("import exit %d", code)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	t.Logf("import took %s and printed %d progress lines", took.Round(time.Millisecond), len(lines))
	// Per weight: what is read, then what was packed.
	if len(lines) != 4 {
		t.Fatalf("%d lines of progress on a pipe, want 4 (2 per weight):\n%s", len(lines), stderr)
	}
	for _, n := range []string{"big", "tiny"} {
		var hashing, packed bool
		for _, l := range lines {
			hashing = hashing || (strings.HasPrefix(l, n+": hashing ") && strings.Contains(l, " files ("))
			packed = packed || (strings.HasPrefix(l, n+": packed ") && strings.Contains(l, " layer") && strings.Contains(l, " in "))
		}
		if !hashing || !packed {
			t.Errorf("weight %s: want a hashing line and a packed line, got:\n%s", n, stderr)
		}
	}
}
