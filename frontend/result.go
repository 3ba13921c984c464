package frontend

import (
	"context"
	"sort"

	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/pkg/errors"
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
	if img.Config.Labels == nil {
		img.Config.Labels = map[string]string{}
	}
	labels := make([]string, 0, len(facts))
	for l := range facts {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, label := range labels {
		dt, err := dockerui.ReadFile(ctx, ref, facts[label])
		if err != nil {
			return errors.Wrapf(err, "reading %s from the built image for label %s", facts[label], label)
		}
		img.Config.Labels[label] = string(dt)
	}
	return nil
}

// formatFromTarget maps --target to a format: the frontend's "targets" are
// its output formats.
func formatFromTarget(target string) (string, error) {
	switch target {
	case "", FormatBundle, FormatStandalone:
		return target, nil
	}
	return "", errors.Errorf("unknown target %q: cog.yaml builds the targets %q and %q (see `docker buildx build --call targets -f cog.yaml .`)",
		target, FormatBundle, FormatStandalone)
}
