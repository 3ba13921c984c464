package frontend

import (
	"bytes"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/moby/buildkit/client/llb"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
)

// sourceInfo describes cog.yaml to BuildKit, so buildx can print the lines
// a warning or error points at.
func sourceInfo(smap *llb.SourceMap) *pb.SourceInfo {
	si := &pb.SourceInfo{Data: smap.Data, Filename: smap.Filename, Language: smap.Language}
	if smap.Definition != nil {
		si.Definition = smap.Definition.ToPB()
	}
	return si
}

// lineRange is the BuildKit range of the line holding pos, from pos's
// column to the end of the line. config positions are 1-based line and
// column; BuildKit lines are 1-based and characters 0-based. nil when pos
// has no line.
func lineRange(data []byte, pos config.Position) *pb.Range {
	if pos.Line <= 0 {
		return nil
	}
	start := max(pos.Column-1, 0)
	end := start
	lines := bytes.Split(data, []byte("\n"))
	if pos.Line <= len(lines) {
		end = max(len(bytes.TrimRight(lines[pos.Line-1], "\r")), start)
	}
	return &pb.Range{
		Start: &pb.Position{Line: int32(pos.Line), Character: int32(start)},
		End:   &pb.Position{Line: int32(pos.Line), Character: int32(end)},
	}
}

// withConfigSource attaches the location of every *config.Error inside
// err, one errdefs source per problem, so `docker buildx build` shows each
// offending line under the message. smaps are the files errors may point
// into (cog.yaml, weights.lock), matched by file name; errors without a line
// or in another file pass through unchanged.
func withConfigSource(err error, smaps ...*llb.SourceMap) error {
	if err == nil {
		return err
	}
	for _, ce := range config.Errors(err) {
		smap := sourceMapFor(ce.Pos.File, smaps)
		if smap == nil {
			continue
		}
		if r := lineRange(smap.Data, ce.Pos); r != nil {
			err = errdefs.WithSource(err, &errdefs.Source{Info: sourceInfo(smap), Ranges: []*pb.Range{r}})
		}
	}
	return err
}

// sourceMapFor picks the source map of file; an empty file name means the
// first map (cog.yaml), as config positions without a file do.
func sourceMapFor(file string, smaps []*llb.SourceMap) *llb.SourceMap {
	for _, m := range smaps {
		if m != nil && (file == "" || m.Filename == file) {
			return m
		}
	}
	return nil
}

// configWarnOpts is the BuildKit warning for a config warning: level 1
// (what dockerui uses for lint findings) with its cog.yaml line.
func configWarnOpts(smap *llb.SourceMap, w config.Warning) gwclient.WarnOpts {
	opts := gwclient.WarnOpts{Level: 1, SourceInfo: sourceInfo(smap)}
	if r := lineRange(smap.Data, w.Pos); r != nil {
		opts.Range = []*pb.Range{r}
	}
	return opts
}
