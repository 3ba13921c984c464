package frontend

import (
	"context"
	"path"

	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/pkg/errors"
)

// optFilename is dockerui's option naming the build file inside the
// "dockerfile" input (buildx -f).
const optFilename = "filename"

// cogFilename returns the build file to read: the filename option, except
// that a missing one or buildx's default "Dockerfile" means cog.yaml in the
// same directory. A Dockerfile is never a cog.yaml, and this lets
// `docker buildx build --build-arg BUILDKIT_SYNTAX=<frontend> .` work
// without -f.
func cogFilename(opts map[string]string) string {
	name, ok := opts[optFilename]
	if !ok || name == "" {
		return wire.ConfigFilename
	}
	if path.Base(name) == dockerui.DefaultDockerfileName {
		return path.Join(path.Dir(name), wire.ConfigFilename)
	}
	return name
}

// lockFilename is where weights.lock is read: next to cog.yaml in the same
// input, because the CLI writes it there and both describe one project.
func lockFilename(cogFile string) string {
	return path.Join(path.Dir(cogFile), wire.LockFilename)
}

// withFilename wraps a gateway client so that dockerui sees the cog.yaml
// filename chosen by cogFilename. BuildOpts is copied, never mutated, since
// the caller's map may be shared.
type withFilename struct {
	gwclient.Client
	opts gwclient.BuildOpts
}

func newWithFilename(c gwclient.Client) *withFilename {
	bopts := c.BuildOpts()
	opts := make(map[string]string, len(bopts.Opts)+1)
	for k, v := range bopts.Opts {
		opts[k] = v
	}
	opts[optFilename] = cogFilename(bopts.Opts)
	bopts.Opts = opts
	return &withFilename{Client: c, opts: bopts}
}

func (c *withFilename) BuildOpts() gwclient.BuildOpts { return c.opts }

// buildFiles are the project files read from the dockerfile input.
type buildFiles struct {
	filename string
	cogYAML  []byte
	lockName string
	lock     []byte // nil when there is no weights.lock
	src      *dockerui.Source
}

// readBuildFiles reads cog.yaml from the dockerfile input.
// dockerui.ReadEntrypoint does the input plumbing (local, git, HTTP,
// frontend inputs) and gives the source map and the warning channel;
// weights.lock is added to the files it transfers, so readLock finds it
// without another transfer.
func readBuildFiles(ctx context.Context, bc *dockerui.Client) (*buildFiles, error) {
	filename := bc.BuildOpts().Opts[optFilename]
	f := &buildFiles{filename: filename, lockName: lockFilename(filename)}
	src, err := bc.ReadEntrypoint(ctx, "YAML",
		llb.FollowPaths([]string{filename, filename + ".dockerignore", f.lockName}))
	if err != nil {
		return nil, errors.Wrapf(err, "reading %s (pass the file with -f, e.g. `docker buildx build -f cog.yaml .`)", filename)
	}
	f.src = src
	f.cogYAML = src.Data
	return f, nil
}

// readLock reads weights.lock (optional) next to cog.yaml, from a second
// solve of the build-file definition, which BuildKit answers from the
// result it already has.
func (f *buildFiles) readLock(ctx context.Context, c gwclient.Client) error {
	res, err := c.Solve(ctx, gwclient.SolveRequest{Definition: f.src.Definition.ToPB()})
	if err != nil {
		return errors.Wrapf(err, "reading %s", f.lockName)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return err
	}
	// ReadDir with a pattern tells "absent" from "unreadable" without
	// depending on how a missing file's error travels over gRPC.
	entries, err := ref.ReadDir(ctx, gwclient.ReadDirRequest{Path: path.Dir(f.lockName), IncludePattern: wire.LockFilename})
	if err != nil {
		return errors.Wrapf(err, "looking for %s", f.lockName)
	}
	if len(entries) == 0 {
		return nil
	}
	if f.lock, err = dockerui.ReadFile(ctx, ref, f.lockName); err != nil {
		return errors.Wrapf(err, "reading %s", f.lockName)
	}
	return nil
}

// lockSourceMap describes weights.lock to BuildKit so errors in it show
// their line too; nil when there is no lock.
func (f *buildFiles) lockSourceMap() *llb.SourceMap {
	if f.lock == nil {
		return nil
	}
	m := llb.NewSourceMap(f.src.SourceMap.State, f.lockName, "JSON", f.lock)
	m.Definition = f.src.SourceMap.Definition
	return m
}
