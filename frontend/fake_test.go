package frontend

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/moby/buildkit/client/llb"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// fakeClient is a gateway client that only answers BuildOpts: enough for
// dockerui to parse options and assemble results without a daemon. Any
// other call panics on the nil embedded interface, which would show a test
// reaching further than it means to.
type fakeClient struct {
	gwclient.Client
	opts map[string]string
}

func (f fakeClient) BuildOpts() gwclient.BuildOpts {
	return gwclient.BuildOpts{Opts: f.opts, LLBCaps: pb.Caps.CapSet(pb.Caps.All()), Caps: pb.Caps.CapSet(pb.Caps.All())}
}

// memRef is a solved reference backed by a map of files.
type memRef struct {
	gwclient.Reference
	files map[string]string
}

func (r memRef) ReadFile(_ context.Context, req gwclient.ReadRequest) ([]byte, error) {
	dt, ok := r.files[req.Filename]
	if !ok {
		return nil, &os.PathError{Op: "open", Path: req.Filename, Err: os.ErrNotExist}
	}
	if req.Range != nil && int(req.Range.Offset+req.Range.Length) < len(dt) {
		return []byte(dt[req.Range.Offset : req.Range.Offset+req.Range.Length]), nil
	}
	return []byte(dt), nil
}

func (r memRef) StatFile(_ context.Context, req gwclient.StatRequest) (*fstypes.Stat, error) {
	dt, ok := r.files[req.Path]
	if !ok {
		return nil, &os.PathError{Op: "stat", Path: req.Path, Err: os.ErrNotExist}
	}
	return &fstypes.Stat{Path: req.Path, Size: int64(len(dt))}, nil
}

// parse parses cog.yaml text with the real config package and returns it
// with a source map like the one dockerui builds.
func parse(t *testing.T, yaml string) (*config.Config, []config.Warning, *llb.SourceMap, error) {
	t.Helper()
	yaml = strings.TrimLeft(yaml, "\n")
	cfg, warnings, err := config.Parse("cog.yaml", []byte(yaml))
	st := llb.Scratch()
	return cfg, warnings, llb.NewSourceMap(&st, "cog.yaml", "YAML", []byte(yaml)), err
}
