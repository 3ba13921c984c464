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
// (docs/frontend.md, "The image"). They change together with Cog, not per build.
const (
	// DefaultSDKVersion is the cog Python package installed when cog.yaml
	// has no build.sdk_version: the Cog release whose images these match
	// (its integration suite is the judge). It brings the coglet runtime
	// (python -m cog.server.http).
	DefaultSDKVersion = "0.22.0"
	// DefaultCogletVersion is pinned with the default SDK: cog 0.22.0 only
	// asks for coglet>=0.22.0,<1.0, and the runtime's behaviour (health
	// checks, streaming, validation) is coglet's, so a floating coglet would
	// make the same cog.yaml build a different server over time.
	DefaultCogletVersion = "0.22.0"
	// UVImage is where Cog copies /uv and /uvx from.
	UVImage = "ghcr.io/astral-sh/uv:0.9.26"
)

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

	// Version is this tool's version, recorded in LabelFrontendVersion.
	Version string

	// CACert is PEM of extra certificate authorities (COG_CA_CERT),
	// installed before any step that uses the network and trusted by the
	// running model. Nil installs none: the base image's trust store is
	// left as it is.
	CACert []byte

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
