package frontend

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/moby/buildkit/solver/errdefs"
)

const brokenCogYAML = `
build:
  python_version: "3.11"
  gpuu: true
run: predict.py:Predictor
bogus: 1
`

func TestConfigErrorsCarryTheirCogYAMLLines(t *testing.T) {
	_, _, smap, perr := parse(t, brokenCogYAML)
	if perr == nil {
		t.Fatal("config.Parse accepted a broken cog.yaml")
	}
	problems := config.Errors(perr)
	if len(problems) != 2 {
		t.Fatalf("want 2 config errors (gpuu, bogus), got %v", perr)
	}
	err := withConfigSource(perr, smap)
	if err.Error() != perr.Error() {
		t.Errorf("message changed: %q -> %q", perr, err)
	}
	srcs := errdefs.Sources(err)
	if len(srcs) != len(problems) {
		t.Fatalf("got %d sources, want one per problem (%d)", len(srcs), len(problems))
	}
	gotLines := map[int32]bool{}
	for _, s := range srcs {
		if s.Info.Filename != "cog.yaml" || !bytes.Equal(s.Info.Data, smap.Data) {
			t.Errorf("source info = %q / %d bytes, want cog.yaml and its data", s.Info.Filename, len(s.Info.Data))
		}
		if len(s.Ranges) != 1 {
			t.Fatalf("ranges = %v", s.Ranges)
		}
		gotLines[s.Ranges[0].Start.Line] = true
		var out bytes.Buffer
		if err := s.Print(&out); err != nil {
			t.Fatal(err)
		}
		// What buildx prints under the error: the offending line.
		line := strings.Split(string(smap.Data), "\n")[s.Ranges[0].Start.Line-1]
		if !strings.Contains(out.String(), line) {
			t.Errorf("printed source %q does not show line %q", out.String(), line)
		}
	}
	for _, p := range problems {
		if !gotLines[int32(p.Pos.Line)] {
			t.Errorf("no source range for %v (line %d); got lines %v", p, p.Pos.Line, gotLines)
		}
	}
}

func TestErrorsWithoutPositionPassThrough(t *testing.T) {
	_, _, smap, _ := parse(t, "run: p.py:P\n")
	plain := &config.Error{Path: "weights", Msg: "no line known"}
	if got := withConfigSource(plain, smap); len(errdefs.Sources(got)) != 0 || got != error(plain) {
		t.Errorf("error without a line got sources: %v", errdefs.Sources(got))
	}
	if withConfigSource(nil, smap) != nil {
		t.Error("nil error became non-nil")
	}
}

func TestLineRange(t *testing.T) {
	data := []byte("a: 1\r\nbuild:\n  gpu: yes\n")
	r := lineRange(data, config.Position{Line: 3, Column: 3})
	if r.Start.Line != 3 || r.End.Line != 3 || r.Start.Character != 2 || r.End.Character != 10 {
		t.Errorf("range = %v, want line 3 chars 2..10", r)
	}
	r = lineRange(data, config.Position{Line: 1, Column: 1})
	if r.End.Character != 4 {
		t.Errorf("CR not trimmed: end = %d", r.End.Character)
	}
	if lineRange(data, config.Position{}) != nil {
		t.Error("a position without a line must give no range")
	}
	// A line past the end (a file that changed under us) still gives a
	// range, never a panic.
	if r := lineRange(data, config.Position{Line: 40, Column: 5}); r == nil || r.Start.Line != 40 {
		t.Errorf("range past the end = %v", r)
	}
}

func TestConfigWarningsGoOutWithTheirLine(t *testing.T) {
	_, warnings, smap, err := parse(t, `
build:
  python_version: "3.11"
predict: predict.py:Predictor
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) == 0 {
		t.Fatal("want the deprecation warning for predict:")
	}
	w := warnings[len(warnings)-1]
	opts := configWarnOpts(smap, w)
	if opts.Level != 1 || opts.SourceInfo == nil || opts.SourceInfo.Filename != "cog.yaml" {
		t.Errorf("warn opts = %+v", opts)
	}
	if len(opts.Range) != 1 || opts.Range[0].Start.Line != 3 {
		t.Errorf("range = %v, want line 3 (predict:)", opts.Range)
	}
}
