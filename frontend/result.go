package frontend

import (
	"context"
	"sort"

	cogllb "github.com/cog-frontend/cog-frontend/llb"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/pkg/errors"
	"golang.org/x/sync/errgroup"
)

// addFactLabels reads each build-time fact (label -> file in the built
// image) from the solved result and sets it as a label. Facts only exist
// after the build ran (the OpenAPI schema comes from importing the user's
// predictor), hence this second step. A missing fact file is an error: an
// image without its schema label would not be a usable Cog model.
func addFactLabels(ctx context.Context, img *dockerspec.DockerOCIImage, facts map[string]string, ref gwclient.Reference) error {
	if len(facts) == 0 {
		return nil
	}
	labels := make([]string, 0, len(facts))
	for l := range facts {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	// Read together: each read is a round trip to BuildKit, and on a warm
	// build they are most of what is left to wait for.
	values := make([]string, len(labels))
	eg, ctx := errgroup.WithContext(ctx)
	for i, label := range labels {
		eg.Go(func() error {
			dt, err := dockerui.ReadFile(ctx, ref, facts[label])
			if err != nil {
				return errors.Wrapf(err, "reading %s from the built image for label %s", facts[label], label)
			}
			values[i] = string(dt)
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	if img.Config.Labels == nil {
		img.Config.Labels = map[string]string{}
	}
	for i, label := range labels {
		img.Config.Labels[label] = values[i]
	}
	// run.cog.version names the cog the image really has (Cog's tools
	// compare the two), whatever was asked for.
	if v := cogllb.InstalledCogVersion(img.Config.Labels[wire.LabelPipFreeze]); v != "" {
		img.Config.Labels[wire.LabelVersion] = v
	}
	return nil
}

// formatFromTarget maps --target to a format: the frontend's "targets" are
// its output formats.
func formatFromTarget(target string) (string, error) {
	switch target {
	case "", wire.FormatBundle, wire.FormatStandalone:
		return target, nil
	}
	return "", errors.Errorf("unknown target %q: cog.yaml builds the targets %q and %q (see `docker buildx build --call targets -f cog.yaml .`)",
		target, wire.FormatBundle, wire.FormatStandalone)
}
