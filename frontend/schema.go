package frontend

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/cog-frontend/cog-frontend/config"
	cogllb "github.com/cog-frontend/cog-frontend/llb"
	"github.com/cog-frontend/cog-frontend/schema"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/pkg/errors"
)

// projectFiles reads single project files from the main context, each
// with its own small transfer (FollowPaths) and cached: the schema
// generator asks for predict.py, then for each project module it imports,
// so only those files travel before the build, never a whole tree of
// Python (a virtualenv in the project would be thousands of files).
type projectFiles struct {
	ctx   context.Context
	c     gwclient.Client
	bc    *dockerui.Client
	mu    sync.Mutex
	files map[string][]byte
	errs  map[string]error
}

func newProjectFiles(ctx context.Context, c gwclient.Client, bc *dockerui.Client) *projectFiles {
	return &projectFiles{ctx: ctx, c: c, bc: bc, files: map[string][]byte{}, errs: map[string]error{}}
}

// ReadFile returns a project file by its slash-separated relative path.
func (p *projectFiles) ReadFile(name string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if dt, ok := p.files[name]; ok {
		return dt, nil
	}
	if err, ok := p.errs[name]; ok {
		return nil, err
	}
	dt, err := p.read(name)
	if err != nil {
		p.errs[name] = err
		return nil, err
	}
	p.files[name] = dt
	return dt, nil
}

// read transfers one file under its own shared key, so these small syncs
// never prune the directory BuildKit keeps for the full context.
func (p *projectFiles) read(name string) ([]byte, error) {
	st, err := p.bc.MainContext(p.ctx,
		llb.FollowPaths([]string{name}),
		llb.SharedKeyHint(dockerui.DefaultLocalNameContext+"-source"),
		dockerui.WithInternalName("load "+name))
	if err != nil {
		return nil, err
	}
	def, err := st.Marshal(p.ctx)
	if err != nil {
		return nil, err
	}
	res, err := p.c.Solve(p.ctx, gwclient.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return nil, errors.Wrapf(err, "loading %s from the build context", name)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return nil, err
	}
	return dockerui.ReadFile(p.ctx, ref, name)
}

// schemaInput is what package schema needs from cog.yaml.
func schemaInput(cfg *config.Config, read func(string) ([]byte, error)) schema.Input {
	key := "run"
	if _, ok := cfg.Source["predict"]; ok {
		key = "predict"
	}
	return schema.Input{
		Predict: cfg.Run, PredictKey: key,
		Train: cfg.Train, TrainKey: "train",
		ReadFile: read,
		Version:  cogllb.SDKVersion(cfg),
		Config:   cfg,
	}
}

// pythonSourceMaps are source maps of the .py files err points into, so
// that buildx prints the offending line of predict.py as it does for
// cog.yaml. def is the definition the maps are attached to (cog.yaml's).
func pythonSourceMaps(err error, cogFile string, read func(string) ([]byte, error), def *llb.Definition) []*llb.SourceMap {
	var maps []*llb.SourceMap
	seen := map[string]bool{}
	for _, ce := range config.Errors(err) {
		f := ce.Pos.File
		if f == "" || f == cogFile || seen[f] {
			continue
		}
		seen[f] = true
		dt, rerr := read(f)
		if rerr != nil {
			continue
		}
		m := llb.NewSourceMap(nil, f, "Python", dt)
		m.Definition = def
		maps = append(maps, m)
	}
	return maps
}

// withDecoratorConcurrency is the config the image is built from: Cog takes
// the concurrency from @cog.concurrent(max=N) when cog.yaml sets none, so
// the run.cog.config label and COG_MAX_CONCURRENCY say N. Its errors are
// Cog's.
func withDecoratorConcurrency(cfg *config.Config, r *schema.Result) (*config.Config, error) {
	if c := cfg.Concurrency; c != nil && c.Max > 1 && !r.Async {
		return nil, &config.Error{Pos: cfg.Source["concurrency.max"], Path: "concurrency.max",
			Msg: "concurrency.max > 1 requires an async run() or predict() method; make it async def or set max: 1"}
	}
	if cfg.Concurrency != nil || r.Concurrency == 0 {
		return cfg, nil
	}
	if r.Concurrency > 1 && cfg.Build != nil {
		minor, _ := strconv.Atoi(strings.TrimPrefix(cfg.Build.PythonVersion, "3."))
		if minor > 0 && minor < config.MinPythonMinorConcurrency {
			return nil, &config.Error{Pos: r.ConcurrencyPos,
				Msg: "concurrency requires Python 3." + strconv.Itoa(config.MinPythonMinorConcurrency) + " or higher; set build.python_version to \"3.11\" or newer"}
		}
	}
	c := *cfg
	c.Concurrency = &config.Concurrency{Max: r.Concurrency}
	return &c, nil
}
