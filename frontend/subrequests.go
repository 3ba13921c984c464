package frontend

import (
	"fmt"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/pb"
)

// Answers to `--call outline` and `--call targets`. dockerui speaks the
// subrequest protocol; these say what a cog.yaml build accepts.

// location points an outline/targets entry at a cog.yaml key (source index
// 0 is cog.yaml, the only source listed).
func location(cfg *config.Config, smap *llb.SourceMap, key string) *pb.Location {
	r := lineRange(smap.Data, cfg.Source[key])
	if r == nil {
		return nil
	}
	return &pb.Location{SourceIndex: 0, Ranges: []*pb.Range{r}}
}

// outlineOf lists the build args the frontend reads and the secrets that
// build.run commands mount.
func outlineOf(cfg *config.Config, smap *llb.SourceMap) *outline.Outline {
	o := &outline.Outline{
		Name:        smap.Filename,
		Description: "Cog model" + describeRun(cfg),
		Args: []outline.Arg{
			{Name: BuildArgFormat, Description: fmt.Sprintf("output format: %s (weights stay out of the image) or %s (weights copied in)", wire.FormatBundle, wire.FormatStandalone),
				Value: wire.ResolveFormat("", len(cfg.Weights) > 0)},
			{Name: BuildArgCACert, Description: "a CA certificate (PEM text or base64 of PEM) that build steps and the running model trust"},
			{Name: "SOURCE_DATE_EPOCH", Description: "timestamp (Unix seconds) for generated files and the image config"},
		},
		Sources: [][]byte{smap.Data},
	}
	if cfg.Build != nil {
		seen := map[string]bool{}
		for i, rc := range cfg.Build.Run {
			for j, m := range rc.Mounts {
				if m.Type != "secret" || seen[m.ID] {
					continue
				}
				seen[m.ID] = true
				o.Secrets = append(o.Secrets, outline.Secret{
					Name: m.ID, Required: true,
					Location: location(cfg, smap, fmt.Sprintf("build.run[%d].mounts[%d]", i, j)),
				})
			}
		}
	}
	return o
}

// targetsOf lists the output formats as targets (--target selects one).
func targetsOf(cfg *config.Config, smap *llb.SourceMap) *targets.List {
	def := wire.ResolveFormat("", len(cfg.Weights) > 0)
	return &targets.List{
		Targets: []targets.Target{
			{Name: wire.FormatBundle, Default: def == wire.FormatBundle,
				Description: "model image without the managed weights; they are published next to it as OCI artifacts",
				Location:    location(cfg, smap, "weights")},
			{Name: wire.FormatStandalone, Default: def == wire.FormatStandalone,
				Description: "model image with the managed weights copied in at their targets"},
		},
		Sources: [][]byte{smap.Data},
	}
}

func describeRun(cfg *config.Config) string {
	if cfg.Run == "" {
		return ""
	}
	return " serving " + cfg.Run
}
