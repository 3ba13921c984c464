// Command seedimage turns root filesystem tarballs into an OCI image and
// pushes it to the development registry (plain HTTP). It is how hack/dev-env
// seeds base images (python, uv, golang) that the machines here cannot pull
// from their real registries. The image is linux/amd64; with -platform-layer
// it is an image index holding that amd64 image unchanged (same digest as a
// single-platform seed) plus one image per extra platform.
//
// The image is reproducible: layers are the given tarballs, gzip-compressed
// by go-containerregistry (no timestamps), and the config has a fixed created
// time. A push is skipped when the tag already holds an image made from the
// same inputs (the -key label), so a warm environment does no work here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// keyLabel records which inputs an image was made from.
const keyLabel = "dev.cog-frontend.seed-key"

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	var (
		ref        = flag.String("ref", "", "image reference to push, e.g. 127.0.0.1:5001/library/python:3.11-slim")
		key        = flag.String("key", "", "identifies the inputs; the push is skipped if the tag already has this key")
		workdir    = flag.String("workdir", "", "image working directory")
		entrypoint = flag.String("entrypoint", "", "image entrypoint (one argument)")
		cmd        = flag.String("cmd", "", "image command (one argument)")
		force      = flag.Bool("force", false, "push even if the tag already holds an image with the same key")
		indexKey   = flag.String("index-key", "", "with -platform-layer: identifies the inputs of the whole index (default: -key)")
		layers     multi
		extra      multi
		env        multi
	)
	flag.Var(&layers, "layer", "uncompressed tar file to add as a layer of the linux/amd64 image (repeatable, in order)")
	flag.Var(&extra, "platform-layer", "OS/ARCH[/VARIANT]=TAR[,TAR...]: also build an image for that platform from those layers, same config (repeatable); the tag then holds an index")
	flag.Var(&env, "env", "KEY=VALUE for the image config (repeatable)")
	flag.Parse()
	if *ref == "" || len(layers) == 0 {
		fmt.Fprintln(os.Stderr, "usage: seedimage -ref REF -layer TAR [-layer TAR...] [-env K=V...] [-cmd C] [-entrypoint E] [-workdir D] [-key K]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *indexKey == "" {
		*indexKey = *key
	}
	if err := seed(ctx, *ref, *key, *indexKey, *workdir, *entrypoint, *cmd, *force, layers, extra, env); err != nil {
		fmt.Fprintln(os.Stderr, "seedimage:", err)
		os.Exit(1)
	}
}

// platformLayers is one -platform-layer value.
type platformLayers struct {
	platform v1.Platform
	layers   []string
}

func parsePlatformLayers(vals []string) ([]platformLayers, error) {
	var out []platformLayers
	for _, v := range vals {
		p, tars, ok := strings.Cut(v, "=")
		if !ok || p == "" || tars == "" {
			return nil, fmt.Errorf("bad -platform-layer %q: want OS/ARCH[/VARIANT]=TAR[,TAR...]", v)
		}
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			return nil, fmt.Errorf("bad -platform-layer %q: %w", v, err)
		}
		if plat.OS == "linux" && plat.Architecture == "amd64" {
			return nil, fmt.Errorf("bad -platform-layer %q: linux/amd64 is given with -layer", v)
		}
		out = append(out, platformLayers{platform: *plat, layers: strings.Split(tars, ",")})
	}
	return out, nil
}

func seed(ctx context.Context, ref, key, indexKey, workdir, entrypoint, cmd string, force bool, layers, extra, env []string) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return fmt.Errorf("bad -ref %q: %w", ref, err)
	}
	others, err := parsePlatformLayers(extra)
	if err != nil {
		return err
	}
	want := key
	if len(others) > 0 {
		want = indexKey
	}
	opts := []remote.Option{remote.WithContext(ctx)}
	if !force && want != "" {
		if have, err := existingKey(r, opts); err != nil {
			return err
		} else if have == want {
			fmt.Fprintf(os.Stderr, "seedimage: %s is up to date\n", ref)
			return nil
		}
	}
	for _, e := range env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("bad -env %q: want KEY=VALUE", e)
		}
	}
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	img, err := buildImage(amd64, key, workdir, entrypoint, cmd, layers, env)
	if err != nil {
		return err
	}
	start := time.Now()
	if len(others) == 0 {
		if err := remote.Write(r, img, opts...); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
		d, _ := img.Digest()
		fmt.Fprintf(os.Stderr, "seedimage: pushed %s@%s in %s\n", ref, d, time.Since(start).Round(time.Millisecond))
		return nil
	}
	// The amd64 image is exactly the single-platform one (its label holds
	// -key), so its digest does not change when platforms are added; the
	// index carries -index-key as an annotation.
	adds := []mutate.IndexAddendum{{Add: img, Descriptor: v1.Descriptor{Platform: &amd64}}}
	for _, o := range others {
		oi, err := buildImage(o.platform, indexKey, workdir, entrypoint, cmd, o.layers, env)
		if err != nil {
			return err
		}
		p := o.platform
		adds = append(adds, mutate.IndexAddendum{Add: oi, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	idx = mutate.Annotations(idx, map[string]string{keyLabel: indexKey}).(v1.ImageIndex)
	if err := remote.WriteIndex(r, idx, opts...); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	d, _ := idx.Digest()
	fmt.Fprintf(os.Stderr, "seedimage: pushed index %s@%s (%d platforms) in %s\n", ref, d, len(adds), time.Since(start).Round(time.Millisecond))
	return nil
}

// buildImage makes one platform's image from its layers and the shared
// config settings; key goes into its seed-key label.
func buildImage(plat v1.Platform, key, workdir, entrypoint, cmd string, layers, env []string) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, path := range layers {
		l, err := tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", path, err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, fmt.Errorf("layer %s: %w", path, err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	// A fixed time keeps the config, and so the image digest, reproducible.
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Env = env
	cf.Config.WorkingDir = workdir
	if entrypoint != "" {
		cf.Config.Entrypoint = []string{entrypoint}
	}
	if cmd != "" {
		cf.Config.Cmd = []string{cmd}
	}
	cf.Config.Labels = map[string]string{keyLabel: key}
	return mutate.ConfigFile(img, cf)
}

// existingKey returns the seed key of what the tag points at (an index's
// annotation, or an image's label), or "" if the tag does not exist.
func existingKey(r name.Reference, opts []remote.Option) (string, error) {
	desc, err := remote.Get(r, opts...)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return "", nil
		}
		return "", fmt.Errorf("checking %s: %w", r, err)
	}
	if desc.MediaType.IsIndex() {
		im, err := desc.ImageIndex()
		if err != nil {
			return "", fmt.Errorf("reading index %s: %w", r, err)
		}
		m, err := im.IndexManifest()
		if err != nil {
			return "", fmt.Errorf("reading index %s: %w", r, err)
		}
		return m.Annotations[keyLabel], nil
	}
	img, err := desc.Image()
	if err != nil {
		return "", fmt.Errorf("reading image %s: %w", r, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("reading config of %s: %w", r, err)
	}
	return cf.Config.Labels[keyLabel], nil
}
