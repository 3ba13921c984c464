package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/cog-frontend/cog-frontend/exporter"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

func init() { register(newBundleCmd) }

func newBundleCmd() *cobra.Command {
	var image, file, lock, output, pushRef, progress, tag string
	var jobs int
	c := &cobra.Command{
		Use:   "bundle --image REF|oci-layout://DIR[:TAG] [--output type=oci,dest=PATH | --push REF]",
		Short: "Attach the weights of cog.yaml/weights.lock to a model image built elsewhere",
		Long: `Bundle takes a model image built elsewhere (docker buildx build with the frontend,
bake, CI) and publishes the bundle: the image (and its attestations) plus one
artifact per weight of cog.yaml/weights.lock. The image is read from a registry
(REF) or an OCI layout (oci-layout://DIR[:TAG]); blobs already in the
destination repository are not copied, and blobs in another repository of the same
registry are mounted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if image == "" {
				return fmt.Errorf("--image is required (a registry reference or oci-layout://DIR[:TAG])")
			}
			if (pushRef == "") == (output == "") {
				return fmt.Errorf("give exactly one of --output type=oci,dest=PATH or --push REF")
			}
			p, err := loadProject(".", file, lock)
			if err != nil {
				return err
			}
			if pushRef != "" {
				ref, err := parseTagRef(pushRef)
				if err != nil {
					return err
				}
				if err := checkPush(ctx, ref); err != nil {
					return err
				}
			}
			ws, err := p.exporterWeights(ctx)
			if err != nil {
				return err
			}
			src, ms, err := openImage(ctx, image)
			if err != nil {
				return err
			}
			b, err := exporter.Assemble(ms, ws, src)
			if err != nil {
				return err
			}
			ref := pushRef
			if ref == "" {
				ref = tag
			}
			return publish(ctx, p, b, publishOpts{Push: pushRef != "", Ref: ref, Output: output, Progress: progress, Jobs: jobs})
		},
	}
	fl := c.Flags()
	fl.StringVar(&image, "image", "", "the model image: REGISTRY/REPO[:TAG|@DIGEST] or oci-layout://DIR[:TAG]")
	fl.StringVarP(&file, "file", "f", "", "path to cog.yaml (default ./cog.yaml)")
	fl.StringVar(&lock, "weights-lock", "", "path to weights.lock (default: next to cog.yaml)")
	fl.StringVarP(&output, "output", "o", "", "type=oci,dest=PATH (directory, or PATH.tar)")
	fl.StringVar(&pushRef, "push", "", "push the bundle to REPO[:TAG]")
	fl.StringVarP(&tag, "tag", "t", "", "with --output: REPO[:TAG] whose tag names the bundle in the layout (default: the UTC time)")
	fl.StringVar(&progress, "progress", "auto", "progress output: auto, plain, tty, rawjson, quiet")
	fl.IntVar(&jobs, "jobs", exporter.DefaultConcurrency, "blobs uploaded in parallel")
	return annotate(c, "Run it again to continue: blobs already in the registry are not sent again, and an interrupted upload resumes where it stopped.")
}

// openImage resolves --image / inspect arguments: oci-layout://DIR[:TAG] or
// a registry reference. It returns the source and the root's manifests.
func openImage(ctx context.Context, ref string) (exporter.Source, []ocispec.Descriptor, error) {
	src, root, err := resolveRoot(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	ms, err := exporter.Manifests(ctx, src, root)
	return src, ms, err
}

func resolveRoot(ctx context.Context, ref string) (exporter.Source, ocispec.Descriptor, error) {
	if rest, ok := strings.CutPrefix(ref, "oci-layout://"); ok {
		dir, tag := rest, ""
		// DIR:TAG, where DIR may itself contain ':' only before the last '/'
		if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
			dir, tag = rest[:i], rest[i+1:]
		}
		return exporter.OpenLayout(dir, tag)
	}
	r, err := parseRef(ref)
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	src, root, err := exporter.ResolveRegistry(ctx, r, remoteOptions()...)
	return src, root, explainPull(r.Context(), err)
}
