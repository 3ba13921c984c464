package main

import (
	"encoding/json"
	"fmt"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/exporter"
	"github.com/cog-frontend/cog-frontend/frontend"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/spf13/cobra"
)

func init() { register(newBuildCmd) }

func addBuildFlags(c *cobra.Command, f *buildFlags) {
	fl := c.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "path to cog.yaml (default DIR/cog.yaml)")
	fl.StringSliceVar(&f.platforms, "platform", nil, "target platform(s), e.g. linux/amd64")
	fl.StringVar(&f.format, "format", "", "bundle (weights as separate artifacts) or standalone (weights inside the image); default bundle when cog.yaml has weights")
	fl.StringVar(&f.builder, "builder", "", "docker buildx builder to use (default: $BUILDKIT_HOST, else the current buildx builder)")
	fl.StringVar(&f.progress, "progress", "auto", "progress output: auto, plain, tty, rawjson, quiet")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "build argument KEY=VALUE")
	fl.StringArrayVar(&f.secrets, "secret", nil, "secret for the build: id=ID[,src=PATH|,env=VAR]")
	fl.StringArrayVar(&f.cacheFrom, "cache-from", nil, "cache import, e.g. type=registry,ref=REPO:cache")
	fl.StringArrayVar(&f.cacheTo, "cache-to", nil, "cache export, e.g. type=registry,ref=REPO:cache,mode=max")
	fl.StringVar(&f.weightsLock, "weights-lock", "", "path to weights.lock (default: next to cog.yaml)")
	fl.IntVar(&f.jobs, "jobs", exporter.DefaultConcurrency, "blobs uploaded in parallel when pushing")
	fl.StringVar(&f.tls.serverName, "tlsservername", "", "BuildKit server name for certificate validation (tcp:// BUILDKIT_HOST)")
	fl.StringVar(&f.tls.caCert, "tlscacert", "", "CA certificate for BuildKit (tcp:// BUILDKIT_HOST)")
	fl.StringVar(&f.tls.cert, "tlscert", "", "client certificate for BuildKit")
	fl.StringVar(&f.tls.key, "tlskey", "", "client key for BuildKit")
}

func newBuildCmd() *cobra.Command {
	f := &buildFlags{}
	c := &cobra.Command{
		Use:   "build [DIR]",
		Short: "Build the model image with BuildKit and assemble the bundle (image + weights)",
		Long: `Build runs the Cog frontend in-process against BuildKit and assembles the bundle:
one OCI image index with the model image, BuildKit's attestations and one artifact
per weight (platform unknown/unknown).

Output: an OCI image layout directory at DIR/.cog/bundle unless --output
type=oci,dest=PATH is given (dest ending in .tar writes an OCI archive), or --push
with -t REF pushes it. The layout's index.json names the bundle by its tag
(-t REF's tag, else the UTC time YYYYMMDDTHHMMSSZ), the image cog-image.<tag> and
each weight cog-weight.<name>.<set digest prefix>.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if f.push && f.tag == "" {
				p, err := loadProject(dir, f.file, f.weightsLock)
				if err != nil {
					return err
				}
				if f.tag, err = p.defaultRef(); err != nil {
					return fmt.Errorf("--push needs -t REF: %w", err)
				}
			}
			return runBuild(cmd, dir, f)
		},
	}
	addBuildFlags(c, f)
	c.Flags().StringVarP(&f.output, "output", "o", "", "type=oci,dest=PATH (a directory, or PATH.tar for an archive)")
	c.Flags().StringVarP(&f.tag, "tag", "t", "", "reference REPO[:TAG] (the tag names the bundle; with --push, where it goes)")
	c.Flags().BoolVar(&f.push, "push", false, "push the bundle to -t REF")
	return annotate(c, "Run it again: the build steps that finished are in BuildKit's cache and are not run again.")
}

// runBuild builds the image, assembles the bundle and publishes it.
func runBuild(cmd *cobra.Command, dir string, f *buildFlags) error {
	ctx := cmd.Context()
	p, err := loadProject(dir, f.file, f.weightsLock)
	if err != nil {
		return err
	}
	if f.push && f.output != "" {
		return fmt.Errorf("--push and --output are exclusive: choose one destination")
	}
	if f.push {
		// Credentials and TLS trust are checked before the (long) build.
		ref, err := parseTagRef(f.tag)
		if err != nil {
			return err
		}
		if err := checkPush(ctx, ref); err != nil {
			return err
		}
	}
	// Resolve the weights before the (long) build, so drift or a missing
	// lock fails fast with what to run. The frontend decides the format
	// from the same option or build arg, by the same rule.
	requested := f.format
	if requested == "" {
		requested = parseKV(f.buildArgs)[frontend.BuildArgFormat]
	}
	var ws []exporter.Weight
	if wire.ResolveFormat(requested, len(p.Config.Weights) > 0) == wire.FormatBundle {
		if ws, err = p.exporterWeights(ctx); err != nil {
			return err
		}
	}
	img, err := buildImage(ctx, p, f)
	if err != nil {
		return err
	}
	defer img.Close()
	if err := checkBuilt(img.meta, ws); err != nil {
		return err
	}
	b, err := exporter.Assemble(img.manifests, ws, img.src)
	if err != nil {
		return err
	}
	return publish(ctx, p, b, publishOpts{Push: f.push, Ref: f.tag, Output: f.output, Progress: f.progress, Jobs: f.jobs})
}

// checkBuilt compares what the frontend reports it built (its result
// metadata) with the weights about to be attached: a bundle image carries
// the lock projection it was built for, and a weight attached to it must be
// that one; a standalone image gets none.
func checkBuilt(meta map[string][]byte, ws []exporter.Weight) error {
	format := string(meta[frontend.MetaFormat])
	if format == wire.FormatStandalone {
		if len(ws) > 0 {
			return fmt.Errorf("the frontend built the %s format, which has the weights inside the image; there is nothing to attach", format)
		}
		return nil
	}
	var lock config.Lock
	if raw := meta[frontend.MetaWeightsLock]; raw != nil {
		if err := json.Unmarshal(raw, &lock); err != nil {
			return fmt.Errorf("frontend result %s: %w", frontend.MetaWeightsLock, err)
		}
	}
	if len(lock.Weights) != len(ws) {
		return fmt.Errorf("the image was built for %d weight(s) but %d are to be attached; weights.lock changed during the build: build again", len(lock.Weights), len(ws))
	}
	for i, w := range ws {
		if l := lock.Weights[i]; l.Name != w.Name || l.SetDigest != w.SetDigest {
			return fmt.Errorf("the image was built for weight %q (set %s) but %q (set %s) is to be attached; weights.lock changed during the build: build again", l.Name, l.SetDigest, w.Name, w.SetDigest)
		}
	}
	return nil
}
