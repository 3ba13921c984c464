package frontend

import (
	"context"
	"sync"

	"github.com/cog-frontend/cog-frontend/config"
	cogllb "github.com/cog-frontend/cog-frontend/llb"
	"github.com/cog-frontend/cog-frontend/schema"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/pkg/errors"
)

// sourcePatterns are the project files the schema can need: the predictor
// and the modules it imports. Only these are transferred before the build.
var sourcePatterns = []string{"**/*.py"}

// projectFiles reads project files from one solve of the main context
// restricted to sourcePatterns (plus extra paths), caching what it read:
// the schema generator asks for files one by one, and a file it read may
// later be needed again for an error's source map.
type projectFiles struct {
	ctx   context.Context
	ref   gwclient.Reference
	mu    sync.Mutex
	files map[string][]byte
}

// readProjectFiles transfers the project's Python files (and extra, e.g.
// the requirements file) under their own shared key, so this small sync
// never prunes the directory BuildKit keeps for the full context.
func readProjectFiles(ctx context.Context, c gwclient.Client, bc *dockerui.Client, extra ...string) (*projectFiles, error) {
	st, err := bc.MainContext(ctx,
		llb.IncludePatterns(append(append([]string{}, sourcePatterns...), extra...)),
		llb.SharedKeyHint(dockerui.DefaultLocalNameContext+"-python"),
		dockerui.WithInternalName("load Python sources"))
	if err != nil {
		return nil, err
	}
	def, err := st.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return nil, errors.Wrap(err, "loading the project's Python files from the build context")
	}
	ref, err := res.SingleRef()
	if err != nil {
		return nil, err
	}
	return &projectFiles{ctx: ctx, ref: ref, files: map[string][]byte{}}, nil
}

// ReadFile returns a project file by its slash-separated relative path.
func (p *projectFiles) ReadFile(name string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if dt, ok := p.files[name]; ok {
		return dt, nil
	}
	dt, err := dockerui.ReadFile(p.ctx, p.ref, name)
	if err != nil {
		return nil, err
	}
	p.files[name] = dt
	return dt, nil
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
