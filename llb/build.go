package llb

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/wire"
	bkllb "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// Build converts a validated config into the model image's LLB and image
// config for one platform. It calls nothing outside except
// opts.MetaResolver, and honours ctx only there.
func Build(ctx context.Context, cfg *config.Config, opts Options) (*Result, error) {
	if cfg == nil {
		return nil, errors.New("llb.Build: nil config")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := &builder{cfg: cfg, opts: opts, res: &Result{Facts: map[string]string{}}}
	if err := b.prepare(); err != nil {
		return nil, err
	}
	if err := b.base(ctx); err != nil {
		return nil, err
	}
	steps := []func() error{b.preamble, b.caCert, b.tini, b.userEnv, b.systemPackages, func() error { return b.uv(ctx) }, b.python, b.requirements, b.cogRuntime, b.buildRun, b.runtimeConfig, b.project, b.cogDir, b.weights}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := b.imageConfig(); err != nil {
		return nil, err
	}
	b.res.State = b.st
	return b.res, nil
}

// builder carries the state through the steps of docs/frontend.md, in
// order. Each step appends to st and, for environment, to env, which is
// both the build steps' environment and the image config's.
type builder struct {
	cfg    *config.Config
	opts   Options
	res    *Result
	format string
	epoch  time.Time
	sm     *bkllb.SourceMap

	baseRef string // unpinned, e.g. python:3.11-slim; names the apt cache
	img     dockerspec.DockerOCIImage
	st      bkllb.State
	env     envList
	reqs    *requirements
	deps    bkllb.State // the image before the project copy
}

func (b *builder) prepare() error {
	cfg := b.cfg
	b.format = wire.ResolveFormat(b.opts.Format, len(cfg.Weights) > 0)
	if !wire.IsFormat(b.format) {
		return fmt.Errorf("unknown image format %q: use %q (weights stay out of the image) or %q (weights copied in)", b.opts.Format, wire.FormatBundle, wire.FormatStandalone)
	}
	if len(b.opts.Weights) != len(cfg.Weights) {
		return posErr(cfg, "weights", "cog.yaml declares %d weights but the weights.lock projection has %d; run `cog-frontend weights import`", len(cfg.Weights), len(b.opts.Weights))
	}
	for i, w := range b.opts.Weights {
		if w.Name != cfg.Weights[i].Name || w.Target != cfg.Weights[i].Target {
			return posErr(cfg, fmt.Sprintf("weights[%d]", i), "weight %q (target %s) does not match weights.lock entry %q (target %s); run `cog-frontend weights import`", cfg.Weights[i].Name, cfg.Weights[i].Target, w.Name, w.Target)
		}
		if w.SetDigest == "" {
			return posErr(cfg, fmt.Sprintf("weights[%d]", i), "weight %q has no set digest in weights.lock; run `cog-frontend weights import`", w.Name)
		}
	}
	if !b.opts.Epoch.IsZero() {
		b.epoch = b.opts.Epoch.UTC()
	} else {
		b.epoch = time.Unix(0, 0).UTC()
	}
	if b.opts.ConfigData != nil {
		name := b.opts.ConfigFilename
		if name == "" {
			name = wire.ConfigFilename
		}
		b.sm = bkllb.NewSourceMap(nil, name, "YAML", b.opts.ConfigData)
		b.res.SourceMap = b.sm
	}

	// Requirements decide both the install step and, for GPU builds without
	// an explicit cuda:, the CUDA version; read them once.
	if bd := cfg.Build; bd != nil {
		var err error
		switch {
		case bd.PythonRequirements != "":
			if b.opts.Requirements == nil {
				return posErr(cfg, "build.python_requirements", "the content of %s was not passed to the converter (Options.Requirements)", bd.PythonRequirements)
			}
			lines := strings.Split(strings.ReplaceAll(string(b.opts.Requirements), "\r\n", "\n"), "\n")
			b.reqs, err = filterRequirements(cfg, "build.python_requirements", bd.PythonRequirements, path.Dir(path.Clean(bd.PythonRequirements)), lines)
		case len(bd.PythonPackages) > 0:
			b.reqs, err = filterRequirements(cfg, "build.python_packages", "python_packages", ".", bd.PythonPackages)
		}
		if err != nil {
			return err
		}
		if b.reqs != nil {
			b.res.Warnings = append(b.res.Warnings, b.reqs.warnings...)
		}
		if bd.GPU && (bd.CUDA == "" || bd.CuDNN == "") {
			// Complete cuda/cudnn on a copy: the caller's config stays as
			// it was, and the run.cog.config label shows what was used.
			c, bc := *cfg, *bd
			c.Build = &bc
			text := ""
			if b.reqs != nil {
				text = strings.Join(b.reqs.lines, "\n")
			}
			ws, err := config.ResolveCUDA(&c, text)
			if err != nil {
				return err
			}
			b.res.Warnings = append(b.res.Warnings, ws...)
			b.cfg = &c
		}
	}
	return nil
}

// loc is the source location of the first of keys that cog.yaml has, as
// constraint options for a step; none without a source map.
func (b *builder) loc(keys ...string) []bkllb.ConstraintsOpt {
	if b.sm == nil {
		return nil
	}
	for _, k := range keys {
		if p := position(b.cfg, k); p.Line > 0 {
			return []bkllb.ConstraintsOpt{b.sm.Location([]*pb.Range{{
				Start: &pb.Position{Line: int32(p.Line), Character: int32(p.Column)},
				End:   &pb.Position{Line: int32(p.Line), Character: int32(p.Column)},
			}})}
		}
	}
	return nil
}

// named is a step's display name plus its source location.
func (b *builder) named(name string, keys ...string) []bkllb.ConstraintsOpt {
	return append([]bkllb.ConstraintsOpt{bkllb.WithCustomName(name)}, b.loc(keys...)...)
}

func (b *builder) setEnv(k, v string) {
	b.env.set(k, v)
	b.st = b.st.AddEnv(k, v)
}

func (b *builder) gpu() bool { return b.cfg.Build != nil && b.cfg.Build.GPU }

func (b *builder) pythonVersion() string {
	if b.cfg.Build != nil && b.cfg.Build.PythonVersion != "" {
		return b.cfg.Build.PythonVersion
	}
	return defaultPython
}

func (b *builder) base(ctx context.Context) error {
	ref, err := baseImage(b.cfg)
	if err != nil {
		return err
	}
	b.baseRef = ref
	named, img, err := b.named_(ctx, ref)
	if err != nil {
		return err
	}
	if named != nil {
		b.st = *named
		b.res.BaseImage = ref + " (named context)"
		if img != nil {
			b.img = *img
		}
	} else {
		pinned, img, err := resolveBase(ctx, ref, &b.opts)
		if err != nil {
			return err
		}
		b.img = img
		b.res.BaseImage = pinned
		opts := []bkllb.ImageOption{bkllb.Platform(b.opts.Platform)}
		for _, o := range b.named("[cog] base image "+ref, "build.gpu", "build.python_version") {
			opts = append(opts, o)
		}
		b.st = bkllb.Image(pinned, opts...)
	}
	b.env = append(envList(nil), b.img.Config.Env...)
	if _, ok := b.env.get("PATH"); !ok {
		b.env = append(envList{defaultPath}, b.env...)
	}
	b.st = b.env.apply(b.st)
	return nil
}

// named_ asks Options.NamedContext for ref; nil state means "not
// replaced".
func (b *builder) named_(ctx context.Context, ref string) (*bkllb.State, *dockerspec.DockerOCIImage, error) {
	if b.opts.NamedContext == nil {
		return nil, nil, nil
	}
	st, img, err := b.opts.NamedContext(ctx, ref)
	if err != nil {
		return nil, nil, fmt.Errorf("build context %s: %w", ref, err)
	}
	return st, img, nil
}

// 1. Environment preamble.
func (b *builder) preamble() error {
	ld, _ := b.env.get("LD_LIBRARY_PATH") // $LD_LIBRARY_PATH expands to the base image's value
	b.setEnv("DEBIAN_FRONTEND", "noninteractive")
	b.setEnv("PYTHONUNBUFFERED", "1")
	b.setEnv("LD_LIBRARY_PATH", ld+":/usr/lib/x86_64-linux-gnu:/usr/local/nvidia/lib64:/usr/local/nvidia/bin")
	b.setEnv("NVIDIA_DRIVER_CAPABILITIES", "all")
	return nil
}

// aptMounts are the apt cache mounts: locked, because two apt processes
// must not share /var/lib/apt; keyed by base image and platform so lists
// and packages of different distributions never mix.
func (b *builder) aptMounts() []bkllb.RunOption {
	key := b.baseRef + "-" + platformKey(b.opts)
	return []bkllb.RunOption{
		bkllb.AddMount("/var/cache/apt", bkllb.Scratch(), bkllb.AsPersistentCacheDir("cog-apt-cache-"+key, bkllb.CacheMountLocked)),
		bkllb.AddMount("/var/lib/apt", bkllb.Scratch(), bkllb.AsPersistentCacheDir("cog-apt-lib-"+key, bkllb.CacheMountLocked)),
	}
}

func platformKey(o Options) string {
	k := o.Platform.OS + "-" + o.Platform.Architecture
	if o.Platform.Variant != "" {
		k += "-" + o.Platform.Variant
	}
	return k
}

// uvCache is uv's download/wheel cache, shared: uv locks it itself.
func (b *builder) uvCache() []bkllb.RunOption {
	return []bkllb.RunOption{
		bkllb.AddMount("/root/.cache/uv", bkllb.Scratch(), bkllb.AsPersistentCacheDir("cog-uv-cache-"+platformKey(b.opts), bkllb.CacheMountShared)),
		// The cache is another file system: hard links cannot cross it.
		bkllb.AddEnv("UV_LINK_MODE", "copy"),
	}
}

func (b *builder) run(cmd string, name []bkllb.ConstraintsOpt, extra ...bkllb.RunOption) {
	opts := []bkllb.RunOption{bkllb.Args([]string{"/bin/sh", "-c", cmd})}
	opts = append(opts, extra...)
	for _, o := range name {
		opts = append(opts, o)
	}
	b.st = b.st.Run(opts...).Root()
}

// 2. curl and tini, from the distribution's packages. Cog installs curl to
// fetch tini and leaves it in the image, and models rely on it (build.run
// steps fetch tools with it); its GPU path also installs wget, xz-utils,
// git and ca-certificates. Debian and Ubuntu install tini at /usr/bin/tini;
// the entrypoint is /sbin/tini as in Cog's images, so link it. The
// docker-clean hook is removed because it would empty the apt cache mount
// after every install.
func (b *builder) tini() error {
	pkgs, name := "curl tini", "[cog] install curl and tini"
	if b.gpu() {
		pkgs, name = "curl tini wget xz-utils git ca-certificates", "[cog] install curl, tini, wget, xz-utils, git and ca-certificates"
	}
	b.run("rm -f /etc/apt/apt.conf.d/docker-clean"+
		" && echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache"+
		" && apt-get update -qq && apt-get install -qq -y --no-install-recommends "+pkgs+
		" && ln -sf /usr/bin/tini /sbin/tini",
		b.named(name), b.aptMounts()...)
	return nil
}

// 3. The user's environment, keys sorted.
func (b *builder) userEnv() error {
	env := append([]config.EnvVar(nil), b.cfg.Environment...)
	sort.Slice(env, func(i, j int) bool { return env[i].Key < env[j].Key })
	for _, e := range env {
		b.setEnv(e.Key, e.Value)
	}
	return nil
}

// 4. system_packages.
func (b *builder) systemPackages() error {
	if b.cfg.Build == nil || len(b.cfg.Build.SystemPackages) == 0 {
		return nil
	}
	pkgs := make([]string, len(b.cfg.Build.SystemPackages))
	for i, p := range b.cfg.Build.SystemPackages {
		pkgs[i] = shellQuote(p)
	}
	b.run("apt-get update -qq && apt-get install -qq -y --no-install-recommends "+strings.Join(pkgs, " "),
		b.named("[cog] install system packages", "build.system_packages"), b.aptMounts()...)
	return nil
}

// 5. uv, copied from its image.
func (b *builder) uv(ctx context.Context) error {
	opts := []bkllb.ImageOption{bkllb.Platform(b.opts.Platform), bkllb.WithCustomName("[cog] uv image " + UVImage)}
	uv := bkllb.Image(UVImage, opts...)
	named, _, err := b.named_(ctx, UVImage)
	if err != nil {
		return err
	}
	if named != nil {
		uv = *named
	}
	b.st = b.st.File(
		bkllb.Copy(uv, "/uv", "/usr/local/bin/uv").Copy(uv, "/uvx", "/usr/local/bin/uvx"),
		bkllb.WithCustomName("[cog] install uv"))
	b.setEnv("UV_SYSTEM_PYTHON", "true")
	return nil
}

// GPU images have no Python: install it with uv and link it where
// python:*-slim has it, so the rest of the build is the same. uv-managed
// interpreters are marked externally managed, hence the override for the
// steps that install into it.
func (b *builder) python() error {
	if !b.gpu() {
		return nil
	}
	py := b.pythonVersion()
	b.setEnv("UV_PYTHON_INSTALL_DIR", "/opt/uv/python")
	b.setEnv("UV_BREAK_SYSTEM_PACKAGES", "true")
	b.run(fmt.Sprintf("uv python install %[1]s"+
		` && ln -sf "$(uv python find --managed-python %[1]s)" /usr/local/bin/python`+
		` && ln -sf /usr/local/bin/python /usr/local/bin/python3`, py),
		b.named("[cog] install Python "+py, "build.python_version"), b.uvCache()...)
	return nil
}

// 6. The user's requirements.
func (b *builder) requirements() error {
	if b.reqs == nil || len(b.reqs.content()) == 0 {
		return nil
	}
	reqs := bkllb.Scratch().File(
		bkllb.Mkfile("/requirements.txt", 0o644, b.reqs.content(), bkllb.WithCreatedTime(b.epoch)),
		bkllb.WithCustomName("[cog] requirements.txt without cog"))
	cmd := "uv pip install -r /tmp/cog-requirements/requirements.txt"
	if b.reqs.hasTorch && !b.reqs.hasIndexFor("download.pytorch.org") {
		cuda := ""
		if b.cfg.Build != nil {
			cuda = b.cfg.Build.CUDA
		}
		cmd += " --extra-index-url " + torchIndexURL(b.cfg.Build, cuda)
	}
	extra := append(b.uvCache(), bkllb.AddMount("/tmp/cog-requirements", reqs, bkllb.Readonly))
	if len(b.reqs.local) > 0 {
		// Writable: building a source directory writes into it; what it
		// writes is dropped with the mount.
		extra = append(extra, bkllb.AddMount(LocalRequirementsDir, b.localArtifacts()))
	}
	b.run(cmd, b.named("[cog] install Python requirements", "build.python_requirements", "build.python_packages"), extra...)
	return nil
}

// localArtifacts copies the local artifacts the requirements name out of
// the project, each at its project path, so that only these files (not the
// rest of the code) are part of the install step's cache key.
func (b *builder) localArtifacts() bkllb.State {
	var fa *bkllb.FileAction
	for _, p := range b.reqs.local {
		ci := &bkllb.CopyInfo{CreateDestPath: true, CopyDirContentsOnly: true, FollowSymlinks: true}
		if fa == nil {
			fa = bkllb.Copy(b.opts.Context, "/"+p, "/"+p, ci)
		} else {
			fa = fa.Copy(b.opts.Context, "/"+p, "/"+p, ci)
		}
	}
	return bkllb.Scratch().File(fa, b.named("[cog] local requirements from the project", "build.python_requirements", "build.python_packages")...)
}

// 7. The cog runtime: by default the pinned SDK and coglet; with
// build.sdk_version that cog, and coglet as its dependency resolves, as Cog
// does.
func (b *builder) cogRuntime() error {
	v := b.sdkVersion()
	pkgs := shellQuote("cog==" + v)
	if b.cfg.Build == nil || b.cfg.Build.SDKVersion == "" {
		pkgs += " " + shellQuote("coglet=="+DefaultCogletVersion)
	}
	b.run("uv pip install "+pkgs, b.named("[cog] install cog "+v, "build.sdk_version", "build"), b.uvCache()...)
	return nil
}

func (b *builder) sdkVersion() string { return SDKVersion(b.cfg) }

// SDKVersion is the cog version the image installs for cfg: build.sdk_version,
// else DefaultSDKVersion. It is what run.cog.version and the schema's
// info.version say before the build; after it, the frontend replaces the
// label with the version pip freeze reports (InstalledCogVersion).
func SDKVersion(cfg *config.Config) string {
	if cfg != nil && cfg.Build != nil && cfg.Build.SDKVersion != "" {
		return cfg.Build.SDKVersion
	}
	return DefaultSDKVersion
}

// 8. build.run, then the deprecated pre_install. Project files are not
// mounted: these steps must not depend on code, so a code change reuses
// them.
func (b *builder) buildRun() error {
	if b.cfg.Build == nil {
		return nil
	}
	for i, rc := range b.cfg.Build.Run {
		key := fmt.Sprintf("build.run[%d]", i)
		var extra []bkllb.RunOption
		for j, m := range rc.Mounts {
			if m.Type != "secret" {
				return posErr(b.cfg, fmt.Sprintf("%s.mounts[%d].type", key, j), "mount type %q is not supported; use \"secret\"", m.Type)
			}
			target := m.Target
			if target == "" {
				target = "/run/secrets/" + m.ID
			}
			extra = append(extra, bkllb.AddSecret(target, bkllb.SecretID(m.ID)))
		}
		b.run(rc.Command, b.named(fmt.Sprintf("[cog] %s: %s", key, rc.Command), key), extra...)
	}
	for i, c := range b.cfg.Build.PreInstall {
		key := fmt.Sprintf("build.pre_install[%d]", i)
		b.run(c, b.named(fmt.Sprintf("[cog] %s: %s", key, c), key))
	}
	return nil
}

// 9. Working directory and the runtime's environment.
func (b *builder) runtimeConfig() error {
	b.st = b.st.Dir(wire.SrcDir)
	if b.cfg.Run != "" {
		b.setEnv("COG_PREDICT_TYPE_STUB", b.cfg.Run)
	}
	if b.cfg.Train != "" {
		b.setEnv("COG_TRAIN_TYPE_STUB", b.cfg.Train)
	}
	if c := b.cfg.Concurrency; c != nil && c.Max > 0 {
		b.setEnv("COG_MAX_CONCURRENCY", fmt.Sprint(c.Max))
	}
	return nil
}

// 10. The project, last, so that a code change reuses every layer above.
func (b *builder) project() error {
	b.deps = b.st
	excludes := append([]string{".cog"}, weightSourceDirs(b.cfg)...)
	b.st = b.st.File(bkllb.Copy(b.opts.Context, "/", wire.SrcDir+"/", &bkllb.CopyInfo{
		CopyDirContentsOnly: true,
		CreateDestPath:      true,
		ExcludePatterns:     excludes,
	}), bkllb.WithCustomName("[cog] copy project to "+wire.SrcDir))
	return nil
}

// 11. /src/.cog: the OpenAPI schema (computed before the build, from the
// source), pip freeze (produced by the installed Python before the project
// copy, so a code change reuses it; without network; only its /out mount
// is kept, so whatever it writes elsewhere never reaches the image) and
// weights.json. All three land in one small layer.
func (b *builder) cogDir() error {
	// The file holds the label's value verbatim: $(...) drops the trailing
	// newline of pip freeze.
	cmd := `freeze="$(uv pip freeze)" && printf '%s' "$freeze" > /out/pip_freeze.txt`
	opts := []bkllb.RunOption{
		bkllb.Args([]string{"/bin/sh", "-c", cmd}),
		bkllb.Network(pb.NetMode_NONE),
		bkllb.AddEnv("UV_NO_CACHE", "1"),
		bkllb.AddEnv("PYTHONDONTWRITEBYTECODE", "1"),
	}
	for _, o := range b.named("[cog] pip freeze", "build") {
		opts = append(opts, o)
	}
	out := b.deps.Run(opts...).AddMount("/out", bkllb.Scratch())
	b.res.Facts[wire.LabelPipFreeze] = wire.PipFreezePath
	if b.opts.OpenAPISchema != nil {
		out = out.File(bkllb.Mkfile("/openapi_schema.json", 0o644, b.opts.OpenAPISchema, bkllb.WithCreatedTime(b.epoch)),
			append([]bkllb.ConstraintsOpt{bkllb.WithCustomName("[cog] openapi_schema.json")}, b.loc("run", "predict", "train")...)...)
	}
	// weights.json promises weights delivered next to the image; a
	// standalone image carries them, so it has none.
	if len(b.opts.Weights) > 0 && b.format == wire.FormatBundle {
		dt, err := weightsJSON(b.opts.Weights)
		if err != nil {
			return err
		}
		out = out.File(bkllb.Mkfile("/weights.json", 0o644, dt, bkllb.WithCreatedTime(b.epoch)),
			append([]bkllb.ConstraintsOpt{bkllb.WithCustomName("[cog] weights.json")}, b.loc("weights")...)...)
	}
	b.st = b.st.File(bkllb.Copy(out, "/", wire.CogDir+"/", &bkllb.CopyInfo{CopyDirContentsOnly: true, CreateDestPath: true}),
		bkllb.WithCustomName("[cog] add "+wire.CogDir))
	return nil
}

// Standalone format: each weight its own layer, merged over the image.
func (b *builder) weights() error {
	if b.format != wire.FormatStandalone || len(b.opts.Weights) == 0 {
		return nil
	}
	layers, err := weightLayers(b.cfg, b.opts.Context, b.opts.Weights, func(k string) []bkllb.ConstraintsOpt { return b.loc(k) })
	if err != nil {
		return err
	}
	b.st = bkllb.Merge(append([]bkllb.State{b.st}, layers...), bkllb.WithCustomName("[cog] add weights"))
	return nil
}

func (b *builder) imageConfig() error {
	img := &b.img
	p := b.opts.Platform
	img.OS, img.Architecture, img.Variant, img.OSVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
	// The base image's creation time says nothing about this image; the
	// caller sets it (SOURCE_DATE_EPOCH) or BuildKit's exporter does.
	img.Created = nil
	img.Config.Env = append([]string(nil), b.env...)
	img.Config.Entrypoint = []string{"/sbin/tini", "--"}
	img.Config.Cmd = []string{"python", "-m", "cog.server.http"}
	img.Config.WorkingDir = wire.SrcDir
	img.Config.ExposedPorts = map[string]struct{}{"5000/tcp": {}}
	labels := map[string]string{}
	for k, v := range img.Config.Labels {
		labels[k] = v
	}
	dt, err := b.cfg.LabelJSON()
	if err != nil {
		return fmt.Errorf("run.cog.config label: %w", err)
	}
	labels[wire.LabelConfig] = string(dt)
	labels[wire.LabelHasInit] = "true"
	labels[wire.LabelVersion] = b.sdkVersion()
	if b.opts.OpenAPISchema != nil {
		labels[wire.LabelOpenAPISchema] = string(b.opts.OpenAPISchema)
	}
	if b.opts.Version != "" {
		labels[wire.LabelFrontendVersion] = b.opts.Version
	}
	if b.opts.Revision != "" {
		labels[wire.LabelOCIRevision] = b.opts.Revision
	}
	if b.opts.SourceVersion != "" {
		labels[wire.LabelOCIVersion] = b.opts.SourceVersion
	}
	img.Config.Labels = labels
	b.res.Image = *img
	return nil
}

// shellQuote quotes s for /bin/sh when it is not plainly safe.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.=/:+,@%~", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
