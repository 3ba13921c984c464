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

// withConfigSource attaches the cog.yaml location of every *config.Error
// inside err, one errdefs source per problem, so `docker buildx build` shows
// each offending line under the message. Errors without a line pass
// through unchanged.
func withConfigSource(err error, smap *llb.SourceMap) error {
	if err == nil || smap == nil {
		return err
	}
	for _, ce := range config.Errors(err) {
		if r := lineRange(smap.Data, ce.Pos); r != nil {
			err = errdefs.WithSource(err, &errdefs.Source{Info: sourceInfo(smap), Ranges: []*pb.Range{r}})
		}
	}
	return err
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
