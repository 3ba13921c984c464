package llb

import (
	"context"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	bkllb "github.com/moby/buildkit/client/llb"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pinned versions and well-known names of the image Cog builds
// (spec/cog-image.md). They change together with Cog, not per build.
const (
	// DefaultSDKVersion is the cog Python package installed when cog.yaml
	// has no build.sdk_version: the newest release on PyPI when this was
	// written; it brings the coglet runtime (python -m cog.server.http).
	DefaultSDKVersion = "0.23.1"
	// UVImage is where Cog copies /uv and /uvx from.
	UVImage = "ghcr.io/astral-sh/uv:0.9.26"

	FormatBundle     = "bundle"
	FormatStandalone = "standalone"

	LabelConfig        = "run.cog.config"
	LabelVersion       = "run.cog.version"
	LabelOpenAPISchema = "run.cog.openapi_schema"
	LabelPipFreeze     = "run.cog.pip_freeze"
	LabelHasInit       = "run.cog.has_init"
	LabelOCIRevision   = "org.opencontainers.image.revision"
	LabelOCIVersion    = "org.opencontainers.image.version"

	// Paths inside the built image.
	SrcDir            = "/src"
	CogDir            = "/src/.cog"
	OpenAPISchemaPath = "/src/.cog/openapi_schema.json"
	PipFreezePath     = "/src/.cog/pip_freeze.txt"
	WeightsJSONPath   = "/src/.cog/weights.json"
)

// SDKVersion is the version of the cog package the image installs:
// build.sdk_version, else DefaultSDKVersion. The schema's info.version
// states it.
func SDKVersion(cfg *config.Config) string {
	if cfg != nil && cfg.Build != nil && cfg.Build.SDKVersion != "" {
		return cfg.Build.SDKVersion
	}
	return DefaultSDKVersion
}

// Options are the inputs of Build besides the config.
type Options struct {
	// Platform is the one platform this call builds for; the caller calls
	// Build once per platform.
	Platform ocispec.Platform

	// Context is the project (BuildKit's main build context). The caller
	// applies .dockerignore (dockerui.Client.MainContext does) and should
	// add ContextExcludes(cfg, format) to the local source's exclude
	// patterns so that managed-weight directories are never sent to
	// BuildKit in bundle format. Build itself always leaves .cog/ and the
	// weight source directories out of the copy to /src, whatever the
	// context holds.
	Context bkllb.State

	// ConfigFilename and ConfigData are cog.yaml's name and bytes, used for
	// the source map so that a failing step points at its line in cog.yaml.
	// With nil ConfigData no source locations are attached.
	ConfigFilename string
	ConfigData     []byte

	// Requirements is the content of build.python_requirements, read by the
	// caller from the context (llb does no I/O). Required when that key is
	// set; ignored otherwise.
	Requirements []byte

	// Weights is the weights.lock projection, in cog.yaml order (see
	// WeightRefs).
	Weights []WeightRef
	// Format is FormatBundle (the default) or FormatStandalone.
	Format string

	// Version is the run.cog.version label (this tool's version).
	Version string
	// OpenAPISchema is the model's schema, computed before the build by
	// package schema: written to /src/.cog/openapi_schema.json (which the
	// runtime serves and validates inputs against) and set as the
	// run.cog.openapi_schema label, the same bytes. Nil when cog.yaml names
	// no predictor: the image then has neither.
	OpenAPISchema []byte
	// Revision and SourceVersion become the OCI revision/version labels
	// when non-empty (from git).
	Revision      string
	SourceVersion string

	// MetaResolver reads the base image's config (env, labels, ...). May be
	// nil in unit tests: a Debian-like default PATH is assumed then and the
	// base reference is not pinned to a digest.
	MetaResolver bkllb.ImageMetaResolver

	// NamedContext, when set, is asked first for each image the build
	// starts from (the base image, uv's image) by its reference as Build
	// writes it ("python:3.11-slim", "ghcr.io/astral-sh/uv:0.9.26"), for
	// this call's platform. It returns a nil state to use the registry
	// image. This is how `--build-context python:3.11-slim=...` replaces a
	// base image, as with Dockerfiles: wrap dockerui.Client.NamedContext
	// (name, ContextOpt{Platform}) and its Load.
	NamedContext func(ctx context.Context, ref string) (*bkllb.State, *dockerspec.DockerOCIImage, error)

	// Epoch is the timestamp of files Build generates (weights.json, the
	// filtered requirements). Zero means the Unix epoch, so the layers are
	// reproducible.
	Epoch time.Time
}

// WeightRef is one managed weight as the image needs it: name, target and
// set digest from weights.lock, and its sources from cog.yaml (used to copy
// the files in for the standalone format and to keep them out of /src).
type WeightRef struct {
	Name      string
	Target    string
	SetDigest string
	Sources   []config.WeightSource
}

// Result is what Build returns.
type Result struct {
	// State is the root file system of the model image.
	State bkllb.State
	// Image is the image config known at LLB time: env, entrypoint, cmd,
	// working dir, exposed port and labels. The caller adds the labels in
	// Facts after solving.
	Image dockerspec.DockerOCIImage
	// Facts maps a label name to the absolute path of a file inside State's
	// file system whose content, verbatim, is that label's value. The
	// caller solves State, reads each file and sets the label.
	Facts map[string]string
	// SourceMap is cog.yaml's source map (nil without ConfigData). Steps
	// already carry their locations; it is returned so the caller can attach
	// it to errors of its own.
	SourceMap *bkllb.SourceMap
	// BaseImage is the base image reference used (pinned to a digest when
	// a resolver was given).
	BaseImage string
	// Warnings are non-fatal findings, e.g. cog lines dropped from the
	// requirements file. The caller forwards them to BuildKit's warnings.
	Warnings []config.Warning
}
