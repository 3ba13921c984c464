package frontend

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/wire"
)

// Frontend option keys. Each can be given as a frontend option
// (`buildctl --opt cog-format=standalone`, SolveOpt.FrontendAttrs) or, because
// `docker buildx build` and bake only forward build args, as the build arg
// named next to it (`--build-arg COG_FORMAT=standalone`). A frontend option
// wins over the build arg.
const (
	// OptFormat selects the output format: FormatBundle or FormatStandalone.
	// Default: bundle when cog.yaml has weights, else standalone (the two
	// are the same image without weights).
	OptFormat = "cog-format"
	// OptCACert is a custom certificate authority (PEM text or base64 of
	// PEM) that the build's steps and the running model trust, like Cog's
	// COG_CA_CERT.
	OptCACert = "cog-ca-cert"
	// OptSkipSchemaValidation is Cog's --skip-schema-validation, which
	// `cog exec` uses: no schema is required, so a cog.yaml without run:,
	// predict: or train: builds an environment image, and a predictor the
	// schema cannot describe builds without a schema (with a warning).
	OptSkipSchemaValidation = "cog-skip-schema-validation"

	// BuildArgFormat and BuildArgCACert are the build-arg spellings of
	// OptFormat and OptCACert.
	BuildArgFormat = "COG_FORMAT"
	BuildArgCACert = config.CACertVar
	// BuildArgSkipSchemaValidation is the build-arg spelling of
	// OptSkipSchemaValidation.
	BuildArgSkipSchemaValidation = "COG_SKIP_SCHEMA_VALIDATION"
)

// Result metadata keys (besides BuildKit's own image config and platform
// keys).
const (
	// MetaWeightsLock carries the weights lock projection as JSON: the
	// config.Lock read from weights.lock, checked against cog.yaml (no
	// drift), holding exactly the weights of cog.yaml in cog.yaml order.
	// Absent when cog.yaml has no weights.
	MetaWeightsLock = "cog.weights.lock"
	// MetaFormat is the format that was built (FormatBundle or
	// FormatStandalone).
	MetaFormat = "cog.format"
)

// Version is this frontend's version, recorded in the image's
// org.cogfrontend.version label (run.cog.version is the installed cog's).
// The binary sets it at start-up from its link-time version.
var Version = "dev"

// Options are the frontend options this package interprets itself; the
// generic ones (platforms, build args, cache imports, contexts) are parsed by
// dockerui.
type Options struct {
	Format  string // "" means: decide from cog.yaml (see OptFormat)
	Version string
	CACert  []byte // PEM, nil without OptCACert
	// SkipSchemaValidation: see OptSkipSchemaValidation.
	SkipSchemaValidation bool
}

// ParseOptions reads the frontend's own options from the raw frontend
// options map (BuildOpts().Opts).
func ParseOptions(opts map[string]string) (Options, error) {
	o := Options{
		Format:  optOrArg(opts, OptFormat, BuildArgFormat),
		Version: Version,
	}
	if o.Format != "" && !wire.IsFormat(o.Format) {
		return Options{}, fmt.Errorf("frontend option %s (build arg %s) is %q: want %q or %q",
			OptFormat, BuildArgFormat, o.Format, wire.FormatBundle, wire.FormatStandalone)
	}
	if v := optOrArg(opts, OptCACert, BuildArgCACert); v != "" {
		ca, err := config.ParseCACert(v)
		if err != nil {
			hint := ""
			if strings.HasPrefix(v, "/") || strings.HasPrefix(v, ".") {
				// BuildKit cannot read the client's files; cog-frontend
				// reads them and passes the content.
				hint = fmt.Sprintf("; %q looks like a path, which only cog-frontend reads: with buildx pass the content, --build-arg %s=\"$(cat %s)\"", v, BuildArgCACert, v)
			}
			return Options{}, fmt.Errorf("frontend option %s (build arg %s): %w%s", OptCACert, BuildArgCACert, err, hint)
		}
		o.CACert = ca
	}
	if v := optOrArg(opts, OptSkipSchemaValidation, BuildArgSkipSchemaValidation); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Options{}, fmt.Errorf("frontend option %s (build arg %s) is %q: want true or false (1 or 0)",
				OptSkipSchemaValidation, BuildArgSkipSchemaValidation, v)
		}
		o.SkipSchemaValidation = b
	}
	return o, nil
}

func optOrArg(opts map[string]string, opt, arg string) string {
	if v, ok := opts[opt]; ok {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(opts["build-arg:"+arg])
}
