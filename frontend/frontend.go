package frontend

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	cogllb "github.com/cog-frontend/cog-frontend/llb"
	"github.com/cog-frontend/cog-frontend/schema"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/pkg/errors"
	"golang.org/x/sync/errgroup"
)

// optRevision is the frontend attribute buildx fills with the git commit of
// the build context (BUILDX_GIT_INFO, on by default).
const optRevision = "vcs:revision"

// Build is the gateway BuildFunc: grpcclient.RunFromEnvironment runs it when
// BuildKit starts the frontend image, and `cog-frontend build` passes it to
// client.Build to run it in-process.
func Build(ctx context.Context, c gwclient.Client) (*gwclient.Result, error) {
	c = newWithFilename(c)
	if err := checkCaps(c.BuildOpts()); err != nil {
		return nil, err
	}
	bc, err := dockerui.NewClient(c)
	if err != nil {
		return nil, err
	}
	opts, err := ParseOptions(bc.BuildOpts().Opts)
	if err != nil {
		return nil, err
	}
	if opts.Format == "" {
		// --target names a format too, so `--call targets` has
		// something meaningful to list.
		if opts.Format, err = formatFromTarget(bc.Target); err != nil {
			return nil, err
		}
	}

	files, err := readBuildFiles(ctx, bc)
	if err != nil {
		return nil, err
	}
	smap := files.src.SourceMap
	cfg, warnings, err := config.Parse(files.filename, files.cogYAML)
	// --call check answers for a broken cog.yaml too: that is what it is for.
	lintFn := func(ctx context.Context) (*lint.LintResults, error) {
		return forBuildx(Check(smap, newProjectFiles(ctx, c, bc).ReadFile), smap.Filename), nil
	}
	if err != nil {
		if res, ok, herr := bc.HandleSubrequest(ctx, dockerui.RequestHandler{Lint: lintFn, AllowOther: true}); herr != nil || ok {
			return res, herr
		}
		return nil, withConfigSource(err, smap)
	}

	if res, ok, err := bc.HandleSubrequest(ctx, dockerui.RequestHandler{
		Outline:     func(context.Context) (*outline.Outline, error) { return outlineOf(cfg, smap), nil },
		ListTargets: func(context.Context) (*targets.List, error) { return targetsOf(cfg, smap), nil },
		Lint:        lintFn,
	}); err != nil || ok {
		return res, err
	}

	for _, w := range warnings {
		files.src.Warn(ctx, w.String(), configWarnOpts(smap, w))
	}
	if cfg.Run == "" && cfg.Train == "" && !opts.SkipSchemaValidation {
		// Cog's `cog build` (and serve, predict, train) refuse this before
		// building; only `cog exec` (schema validation skipped) builds an
		// environment image.
		return nil, withConfigSource(noPredictorError(files.filename), smap)
	}

	format := wire.ResolveFormat(opts.Format, len(cfg.Weights) > 0)
	p := &plan{
		c: c, bc: bc, cfg: cfg, files: files, format: format, version: opts.Version, caCert: opts.CACert,
		revision: bc.BuildOpts().Opts[optRevision],
	}
	if p.epoch, err = sourceDateEpoch(bc.BuildArgs); err != nil {
		return nil, err
	}
	// Three independent reads, each a round trip to BuildKit (and for a
	// local context to the client): done together, a warm build waits for
	// the slowest instead of the sum.
	var lock *config.Lock
	eg, egctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		if err := files.readLock(egctx, c); err != nil {
			return err
		}
		var err error
		if lock, err = checkLock(cfg, files); err != nil {
			return withConfigSource(err, smap, files.lockSourceMap())
		}
		if p.weights, err = cogllb.WeightRefs(cfg, lock); err != nil {
			return withConfigSource(err, smap)
		}
		return nil
	})
	eg.Go(func() error {
		var err error
		p.context, err = mainContext(egctx, bc, cfg, format)
		return err
	})
	eg.Go(func() error {
		var err error
		if p.requirements, err = readRequirements(egctx, c, bc, cfg); err != nil {
			return withConfigSource(err, smap)
		}
		if cfg.Build != nil {
			if err := config.CheckTorchPinned(cfg, cfg.Build.PythonRequirements, p.requirements); err != nil {
				rm := llb.NewSourceMap(nil, cfg.Build.PythonRequirements, "Text", p.requirements)
				rm.Definition = smap.Definition
				return withConfigSource(err, smap, rm)
			}
		}
		return nil
	})
	// The schema, from the source, before anything is built: a predictor
	// the schema cannot describe fails here, in seconds, at its line.
	eg.Go(func() error {
		if cfg.Run == "" && cfg.Train == "" {
			return nil
		}
		if err := config.CheckStaticSchemaSDK(cfg); err != nil {
			return withConfigSource(err, smap)
		}
		pf := newProjectFiles(egctx, c, bc)
		res, err := schema.Generate(schemaInput(cfg, pf.ReadFile))
		if err != nil && opts.SkipSchemaValidation {
			// As Cog's --skip-schema-validation: the image builds without
			// a schema (the runtime then has none to serve or validate).
			files.src.Warn(egctx, "schema validation skipped ("+OptSkipSchemaValidation+"): "+err.Error(), configWarnOpts(smap, config.Warning{Pos: config.Position{Line: 1, Column: 1}}))
			return nil
		}
		if err != nil {
			maps := append([]*llb.SourceMap{smap}, pythonSourceMaps(err, files.filename, pf.ReadFile, smap.Definition)...)
			return withConfigSource(err, maps...)
		}
		for _, w := range res.Warnings {
			wm := smap
			if pm := pythonSourceMaps(&config.Error{Pos: w.Pos}, files.filename, pf.ReadFile, smap.Definition); len(pm) > 0 {
				wm = pm[0]
			}
			files.src.Warn(egctx, w.String(), configWarnOpts(wm, w))
		}
		p.schema = res.JSON
		if p.cfg, err = withDecoratorConcurrency(cfg, res); err != nil {
			return withConfigSource(err, append([]*llb.SourceMap{smap}, pythonSourceMaps(err, files.filename, pf.ReadFile, smap.Definition)...)...)
		}
		return nil
	})
	if err := eg.Wait(); err != nil {
		return nil, err
	}

	return assemble(ctx, bc, p.buildPlatform, format, lock)
}

// assemble builds every target platform with build and puts the result
// together: one ref and image config per platform (dockerui keys them by
// platform when several were asked for), the platform list, the format and
// the weights lock projection.
func assemble(ctx context.Context, bc *dockerui.Client, build dockerui.BuildFunc, format string, lock *config.Lock) (*gwclient.Result, error) {
	rb, err := bc.Build(ctx, build)
	if err != nil {
		return nil, err
	}
	if err := addMetadata(rb.Result, format, lock); err != nil {
		return nil, err
	}
	return rb.Finalize()
}

// plan is everything one platform's build needs, gathered once.
type plan struct {
	c            gwclient.Client
	bc           *dockerui.Client
	cfg          *config.Config
	files        *buildFiles
	format       string
	version      string
	caCert       []byte
	revision     string
	epoch        *time.Time
	weights      []cogllb.WeightRef
	context      llb.State
	requirements []byte
	schema       []byte // the OpenAPI schema; nil without a predictor
}

// buildPlatform converts, solves and completes the image of one target
// platform; dockerui.Client.Build runs it once per --platform entry and
// assembles the multi-platform result.
func (p *plan) buildPlatform(ctx context.Context, platform *ocispec.Platform, idx int) (*dockerui.BuildResult, error) {
	target := platforms.Normalize(platforms.DefaultSpec())
	if platform != nil {
		target = *platform
	}
	opt := cogllb.Options{
		Platform:       target,
		Context:        p.context,
		ConfigFilename: p.files.filename,
		ConfigData:     p.files.cogYAML,
		Requirements:   p.requirements,
		OpenAPISchema:  p.schema,
		Weights:        p.weights,
		Format:         p.format,
		Version:        p.version,
		CACert:         p.caCert,
		Revision:       p.revision,
		MetaResolver:   p.c,
		// `--build-context python:3.11-slim=...` replaces an image the
		// build starts from, as with Dockerfiles.
		NamedContext: func(ctx context.Context, ref string) (*llb.State, *dockerspec.DockerOCIImage, error) {
			nc, err := p.bc.NamedContext(ref, dockerui.ContextOpt{Platform: &target, ResolveMode: p.bc.ImageResolveMode.String()})
			if err != nil || nc == nil {
				return nil, nil, err
			}
			return nc.Load(ctx)
		},
	}
	if p.epoch != nil {
		opt.Epoch = *p.epoch
	}
	res, err := cogllb.Build(ctx, p.cfg, opt)
	if err != nil {
		return nil, withConfigSource(err, p.files.src.SourceMap)
	}
	// Warnings are the same for every platform; report them once.
	if idx == 0 {
		for _, w := range res.Warnings {
			p.files.src.Warn(ctx, w.String(), configWarnOpts(p.files.src.SourceMap, w))
		}
	}

	def, err := res.State.Marshal(ctx, llb.Platform(target), llb.WithCaps(p.bc.BuildOpts().LLBCaps))
	if err != nil {
		return nil, errors.Wrap(err, "marshalling LLB")
	}
	if p.bc.IsNoCache(p.format) {
		if err := ignoreCacheOfRuns(def); err != nil {
			return nil, err
		}
	}
	r, err := p.c.Solve(ctx, gwclient.SolveRequest{
		Definition: def.ToPB(),
		// Forwarded on every solve: BuildKit only consults the cache
		// sources a solve request names.
		CacheImports: p.bc.CacheImports,
	})
	if err != nil {
		return nil, err
	}
	ref, err := r.SingleRef()
	if err != nil {
		return nil, err
	}
	img := res.Image
	if err := addFactLabels(ctx, &img, res.Facts, ref); err != nil {
		return nil, err
	}
	return &dockerui.BuildResult{Reference: ref, Image: &img, Epoch: p.epoch}, nil
}

// ignoreCacheOfRuns implements --no-cache (and --no-cache-filter naming
// the format): every command runs again. Like the Dockerfile frontend it
// marks only the exec ops; sources (images, the context) and file copies
// stay cached, since their content is checked by digest anyway, and
// re-pulling images would only make a cold build slower.
func ignoreCacheOfRuns(def *llb.Definition) error {
	marked := false
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			return errors.Wrap(err, "reading marshalled LLB")
		}
		if op.GetExec() == nil {
			continue
		}
		d := digest.FromBytes(dt)
		md := def.Metadata[d]
		md.IgnoreCache = true
		def.Metadata[d] = md
		marked = true
	}
	if !marked {
		return nil
	}
	// The solver only honours IgnoreCache when the definition declares the
	// capability, on its terminal op (the last one), as Marshal does.
	last := digest.FromBytes(def.Def[len(def.Def)-1])
	md := def.Metadata[last]
	if md.Caps == nil {
		md.Caps = map[apicaps.CapID]bool{}
	}
	md.Caps[pb.CapMetaIgnoreCache] = true
	def.Metadata[last] = md
	return nil
}

// mainContext is the project as BuildKit sees it: dockerui's main context
// (local, git or HTTP, named via --build-context when set) with
// .dockerignore and the paths llb never copies (.cog/, and in bundle format
// the managed-weight sources, which can be gigabytes) excluded at the
// source, so they are not even transferred. ExcludePatterns replaces the
// list dockerui sets, hence the .dockerignore patterns are repeated here.
func mainContext(ctx context.Context, bc *dockerui.Client, cfg *config.Config, format string) (llb.State, error) {
	ignore, err := bc.DockerIgnorePatterns(ctx)
	if err != nil {
		return llb.State{}, err
	}
	excludes := append(append([]string{}, ignore...), cogllb.ContextExcludes(cfg, format)...)
	st, err := bc.MainContext(ctx, llb.ExcludePatterns(excludes))
	if err != nil {
		return llb.State{}, err
	}
	return *st, nil
}

// readRequirements reads build.python_requirements from the project, since
// llb needs its text at conversion time (torch index, dropped cog lines,
// CUDA choice). For a local context only that one file is transferred, under
// its own shared key so this small sync never prunes the directory BuildKit
// keeps for the full context.
func readRequirements(ctx context.Context, c gwclient.Client, bc *dockerui.Client, cfg *config.Config) ([]byte, error) {
	if cfg.Build == nil || cfg.Build.PythonRequirements == "" {
		return nil, nil
	}
	name := cfg.Build.PythonRequirements
	st, err := bc.MainContext(ctx,
		llb.FollowPaths([]string{name}),
		llb.SharedKeyHint(dockerui.DefaultLocalNameContext+"-requirements"),
		dockerui.WithInternalName("load "+name))
	if err != nil {
		return nil, err
	}
	def, err := st.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return nil, errors.Wrapf(err, "loading %s from the build context", name)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return nil, err
	}
	dt, err := dockerui.ReadFile(ctx, ref, name)
	if err != nil {
		return nil, &config.Error{Pos: cfg.Source["build.python_requirements"], Path: "build.python_requirements",
			Msg: "cannot read " + strconv.Quote(name) + " from the build context (" + err.Error() +
				"); the path is relative to the project directory: check that the file exists and is not excluded by .dockerignore"}
	}
	return dt, nil
}

// sourceDateEpoch honours SOURCE_DATE_EPOCH like the Dockerfile frontend:
// it timestamps generated files and the image config.
func sourceDateEpoch(args map[string]string) (*time.Time, error) {
	v, ok := args["SOURCE_DATE_EPOCH"]
	if !ok || v == "" {
		return nil, nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, errors.Errorf("build arg SOURCE_DATE_EPOCH is %q: want seconds since the Unix epoch", v)
	}
	t := time.Unix(sec, 0).UTC()
	return &t, nil
}

// addMetadata records the format and the weights lock projection in the
// result; cog-frontend build reads them to attach the matching weights.
func addMetadata(res *gwclient.Result, format string, lock *config.Lock) error {
	res.AddMeta(MetaFormat, []byte(format))
	if lock == nil || len(lock.Weights) == 0 {
		return nil
	}
	dt, err := json.Marshal(lock)
	if err != nil {
		return err
	}
	res.AddMeta(MetaWeightsLock, dt)
	return nil
}
