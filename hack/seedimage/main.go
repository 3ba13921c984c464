// Command seedimage turns root filesystem tarballs into a single-platform OCI
// image and pushes it to the development registry (plain HTTP). It is how
// hack/dev-env seeds base images (python, uv, golang) that the machines here
// cannot pull from their real registries.
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
		layers     multi
		env        multi
	)
	flag.Var(&layers, "layer", "uncompressed tar file to add as a layer (repeatable, in order)")
	flag.Var(&env, "env", "KEY=VALUE for the image config (repeatable)")
	flag.Parse()
	if *ref == "" || len(layers) == 0 {
		fmt.Fprintln(os.Stderr, "usage: seedimage -ref REF -layer TAR [-layer TAR...] [-env K=V...] [-cmd C] [-entrypoint E] [-workdir D] [-key K]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := seed(ctx, *ref, *key, *workdir, *entrypoint, *cmd, *force, layers, env); err != nil {
		fmt.Fprintln(os.Stderr, "seedimage:", err)
		os.Exit(1)
	}
}

func seed(ctx context.Context, ref, key, workdir, entrypoint, cmd string, force bool, layers, env []string) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return fmt.Errorf("bad -ref %q: %w", ref, err)
	}
	opts := []remote.Option{remote.WithContext(ctx)}
	if !force && key != "" {
		if have, err := existingKey(r, opts); err != nil {
			return err
		} else if have == key {
			fmt.Fprintf(os.Stderr, "seedimage: %s is up to date\n", ref)
			return nil
		}
	}
	for _, e := range env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("bad -env %q: want KEY=VALUE", e)
		}
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, path := range layers {
		l, err := tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return fmt.Errorf("layer %s: %w", path, err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return fmt.Errorf("layer %s: %w", path, err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
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
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	start := time.Now()
	if err := remote.Write(r, img, opts...); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	d, _ := img.Digest()
	fmt.Fprintf(os.Stderr, "seedimage: pushed %s@%s in %s\n", ref, d, time.Since(start).Round(time.Millisecond))
	return nil
}

// existingKey returns the seed key of the image the tag points at, or "" if
// the tag does not exist.
func existingKey(r name.Reference, opts []remote.Option) (string, error) {
	img, err := remote.Image(r, opts...)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return "", nil
		}
		return "", fmt.Errorf("checking %s: %w", r, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("reading config of %s: %w", r, err)
	}
	return cf.Config.Labels[keyLabel], nil
}
