package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
)

func TestPrintErrorShowsTheCogYAMLLine(t *testing.T) {
	src := &errdefs.Source{
		Info:   &pb.SourceInfo{Filename: "cog.yaml", Data: []byte("build:\n  run:\n    - exit 3\n")},
		Ranges: []*pb.Range{{Start: &pb.Position{Line: 3}, End: &pb.Position{Line: 3}}},
	}
	var out strings.Builder
	printError(&out, errdefs.WithSource(errors.New("process did not complete successfully: exit code: 3"), src))
	for _, want := range []string{"error: ", "exit code: 3", "cog.yaml:3", ">>>     - exit 3"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
