package main

// Running the frontend in-process against BuildKit: connection (buildx
// builder, BUILDKIT_HOST, Docker), session attachables (registry auth from
// the Docker config, secrets), and an OCI layout export of the model image
// into a staging directory that the exporter then reads.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	cogconfig "github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/exporter"
	"github.com/cog-frontend/cog-frontend/frontend"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/connhelper/commandconn"
	"github.com/moby/buildkit/client"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/util/progress/progressui"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	"github.com/tonistiigi/fsutil"
)

// buildFlags are the flags build and push share.
type buildFlags struct {
	file        string
	platforms   []string
	format      string
	output      string
	tag         string
	push        bool
	builder     string
	progress    string
	buildArgs   []string
	secrets     []string
	cacheFrom   []string
	cacheTo     []string
	weightsLock string
	jobs        int
	tls         tlsFlags
}

// tlsFlags are buildctl's TLS flags for a tcp:// BUILDKIT_HOST.
type tlsFlags struct {
	serverName, caCert, cert, key string
}

func (t tlsFlags) opts() []client.ClientOpt {
	var o []client.ClientOpt
	if t.caCert != "" {
		o = append(o, client.WithServerConfig(t.serverName, t.caCert))
	} else if t.serverName != "" {
		o = append(o, client.WithServerConfigSystem(t.serverName))
	}
	if t.cert != "" || t.key != "" {
		o = append(o, client.WithCredentials(t.cert, t.key))
	}
	return o
}

// connectBuildKit picks BuildKit: --builder (a buildx builder through
// `docker buildx dial-stdio`), else BUILDKIT_HOST, else the current buildx
// builder (which is the Docker daemon's BuildKit unless one was chosen) if
// it answers, else this project's development buildkitd (hack/dev-env up)
// if it runs. Only the last two are guesses, and only they fall through.
func connectBuildKit(ctx context.Context, builder string, tls tlsFlags) (*client.Client, string, error) {
	if builder == "" && !pluginMode {
		if host := os.Getenv("BUILDKIT_HOST"); host != "" {
			c, err := client.New(ctx, host, tls.opts()...)
			return c, "BUILDKIT_HOST=" + host, err
		}
	}
	explicit := builder != "" || pluginMode
	if builder == "" {
		builder = pluginBuilder
	}
	args := []string{"buildx", "dial-stdio"}
	what := "the current docker buildx builder"
	if builder != "" {
		args = append(args, "--builder", builder)
		what = "docker buildx builder " + builder
	}
	c, err := client.New(ctx, "", client.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return commandconn.New(context.WithoutCancel(ctx), "docker", args...)
	}))
	if explicit {
		return c, what, err
	}
	if err == nil {
		if err = answers(ctx, c); err == nil {
			return c, what, nil
		}
		c.Close()
	}
	if sock := devBuildKitSocket(); sock != "" {
		host := "unix://" + sock
		if dc, derr := client.New(ctx, host); derr == nil {
			if answers(ctx, dc) == nil {
				fmt.Fprintf(os.Stderr, "using the development BuildKit %s (hack/dev-env); set BUILDKIT_HOST or --builder to use another\n", host)
				return dc, host, nil
			}
			dc.Close()
		}
	}
	return nil, what, fmt.Errorf("%s does not answer (%v): point cog-frontend at a BuildKit with BUILDKIT_HOST=unix:///PATH/buildkitd.sock or --builder NAME, or start this project's with hack/dev-env up", what, firstLine(err))
}

// answers asks BuildKit for its version, so that a builder that is not
// there fails here rather than in the middle of the build.
func answers(ctx context.Context, c *client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err := c.Info(ctx)
	return err
}

// devBuildKitSocket is the socket of the buildkitd hack/dev-env runs (its
// state directory: COG_DEV_STATE, else $XDG_CACHE_HOME or ~/.cache under
// cog-frontend-dev), or "" when there is none.
func devBuildKitSocket() string {
	state := os.Getenv("COG_DEV_STATE")
	if state == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			cache = filepath.Join(home, ".cache")
		}
		state = filepath.Join(cache, "cog-frontend-dev")
	}
	sock := filepath.Join(state, "run", "buildkitd.sock")
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return ""
	}
	return sock
}

func firstLine(err error) string {
	if err == nil {
		return "no answer"
	}
	s, _, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
	return s
}

// pluginBuilder is the builder Docker passes to a CLI plugin (empty: the
// current one).
var pluginBuilder string

func parseKV(list []string) map[string]string {
	m := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// parseCacheEntries reads --cache-from/--cache-to values as BuildKit does:
// type=registry,ref=... or a bare reference.
func parseCacheEntries(in []string) ([]client.CacheOptionsEntry, error) {
	var out []client.CacheOptionsEntry
	for _, s := range in {
		if !strings.Contains(s, "=") {
			out = append(out, client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": s}})
			continue
		}
		attrs := parseKV(strings.Split(s, ","))
		typ := attrs["type"]
		delete(attrs, "type")
		if typ == "" {
			return nil, fmt.Errorf("cache option %q has no type=", s)
		}
		out = append(out, client.CacheOptionsEntry{Type: typ, Attrs: attrs})
	}
	return out, nil
}

// parseSecrets reads --secret id=ID[,src=PATH|,env=VAR].
func parseSecrets(in []string) (session.Attachable, error) {
	var srcs []secretsprovider.Source
	for _, s := range in {
		a := parseKV(strings.Split(s, ","))
		src := secretsprovider.Source{ID: a["id"], FilePath: a["src"], Env: a["env"]}
		if src.FilePath == "" {
			src.FilePath = a["source"]
		}
		if src.ID == "" {
			return nil, fmt.Errorf("--secret %q: id= is required", s)
		}
		srcs = append(srcs, src)
	}
	store, err := secretsprovider.NewStore(srcs)
	if err != nil {
		return nil, err
	}
	return secretsprovider.NewSecretProvider(store), nil
}

// built is what buildImage produced: a source for the exporter, the image's
// manifests, and the frontend's result metadata (the format built and the
// weights lock projection it built against).
type built struct {
	src       exporter.Source
	manifests []ocispec.Descriptor
	meta      map[string][]byte
	stage     string // the staging layout; removed by Close once published
}

// Close removes the staging layout: every build would otherwise leave a
// copy of its image in the cache directory.
func (b *built) Close() error { return os.RemoveAll(b.stage) }

// buildImage runs frontend.Build in-process and exports the model image
// (with BuildKit's attestations) as an OCI layout in a staging directory.
func buildImage(ctx context.Context, p *project, f *buildFlags) (_ *built, err error) {
	// The client-side content store logs harmless warnings (no fsverity on
	// this filesystem) through logrus; the progress display says what matters.
	logrus.SetLevel(logrus.ErrorLevel)
	c, what, err := connectBuildKit(ctx, f.builder, f.tls)
	if err != nil {
		return nil, fmt.Errorf("connect to BuildKit (%s): %w", what, err)
	}
	defer c.Close()

	cache, err := cacheDir()
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(p.Dir))
	stage := filepath.Join(cache, "build", hex.EncodeToString(h[:8]))
	_ = os.RemoveAll(stage) // a stale index.json would name an old image
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(stage)
		}
	}()

	// Context without .cog/ (the default output lives there): never send
	// the previous bundle back to BuildKit.
	ctxFS, err := fsutil.NewFS(p.Dir)
	if err != nil {
		return nil, err
	}
	ctxFS, err = fsutil.NewFilterFS(ctxFS, &fsutil.FilterOpt{ExcludePatterns: []string{".cog"}})
	if err != nil {
		return nil, err
	}
	dfDir, dfName := filepath.Dir(p.File), filepath.Base(p.File)
	if p.LockPath != filepath.Join(dfDir, wire.LockFilename) {
		// The frontend reads weights.lock next to cog.yaml: stage both.
		tmp, err := os.MkdirTemp(stage, "buildfiles-")
		if err != nil {
			return nil, err
		}
		for src, dst := range map[string]string{p.File: dfName, p.LockPath: wire.LockFilename} {
			if b, err := os.ReadFile(src); err == nil {
				if err := os.WriteFile(filepath.Join(tmp, dst), b, 0o644); err != nil {
					return nil, err
				}
			} else if src == p.File {
				return nil, err
			}
		}
		dfDir = tmp
	}
	dfFS, err := fsutil.NewFS(dfDir)
	if err != nil {
		return nil, err
	}

	attrs := map[string]string{"filename": dfName}
	args := parseKV(f.buildArgs)
	for k, v := range args {
		attrs["build-arg:"+k] = v
	}
	ca, err := caCertArg(args)
	if err != nil {
		return nil, err
	}
	if ca != "" {
		attrs["build-arg:"+cogconfig.CACertVar] = ca
	}
	if len(f.platforms) > 0 {
		attrs["platform"] = strings.Join(f.platforms, ",")
	}
	if f.format != "" {
		attrs[frontend.OptFormat] = f.format
	}
	cacheFrom, err := parseCacheEntries(f.cacheFrom)
	if err != nil {
		return nil, err
	}
	cacheTo, err := parseCacheEntries(f.cacheTo)
	if err != nil {
		return nil, err
	}
	secrets, err := parseSecrets(f.secrets)
	if err != nil {
		return nil, err
	}
	dockerCfg := config.LoadDefaultConfigFile(os.Stderr)
	opt := client.SolveOpt{
		Exports: []client.ExportEntry{{
			Type:      client.ExporterOCI,
			Attrs:     map[string]string{"tar": "false", "oci-mediatypes": "true"},
			OutputDir: stage,
		}},
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		FrontendAttrs: attrs,
		CacheImports:  cacheFrom,
		CacheExports:  cacheTo,
		Session: []session.Attachable{
			authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{AuthConfigProvider: authprovider.LoadAuthConfig(dockerCfg)}),
			secrets,
		},
	}
	disp, err := progressui.NewDisplay(os.Stderr, progressui.DisplayMode(f.progress))
	if err != nil {
		return nil, err
	}
	ch := make(chan *client.SolveStatus)
	done := make(chan error, 1)
	go func() {
		_, err := disp.UpdateFrom(context.WithoutCancel(ctx), ch)
		done <- err
	}()
	var meta map[string][]byte
	_, err = c.Build(ctx, opt, "cog-frontend", func(ctx context.Context, gw gwclient.Client) (*gwclient.Result, error) {
		res, err := frontend.Build(ctx, gw)
		if res != nil {
			meta = res.Metadata
		}
		return res, err
	}, ch)
	<-done
	if err != nil {
		return nil, err
	}
	src, root, err := exporter.OpenLayout(stage, "")
	if err != nil {
		return nil, fmt.Errorf("BuildKit's OCI export: %w", err)
	}
	ms, err := exporter.Manifests(ctx, src, root)
	if err != nil {
		return nil, err
	}
	return &built{src: src, manifests: ms, meta: meta, stage: stage}, nil
}
