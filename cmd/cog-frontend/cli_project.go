package main

// Shared plumbing of the build, push and bundle subcommands: reading the
// project (cog.yaml, weights.lock), adapting weights.Artifact to
// exporter.Weight, parsing --output, and publishing a bundle.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/exporter"
	"github.com/cog-frontend/cog-frontend/weights"
	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/google/go-containerregistry/pkg/name"
)

// project is a Cog project on disk.
type project struct {
	Dir      string // build context
	File     string // cog.yaml path
	LockPath string // weights.lock path
	Config   *config.Config
}

// loadProject reads cog.yaml from dir (or file) and names the lock next to
// it unless lockPath is given.
func loadProject(dir, file, lockPath string) (*project, error) {
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if file == "" {
		file = filepath.Join(abs, wire.ConfigFilename)
	} else if !filepath.IsAbs(file) {
		file, _ = filepath.Abs(file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w (run in a Cog project directory or pass -f PATH)", file, err)
	}
	cfg, warnings, err := config.Parse(file, data)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "warning:", w.String())
	}
	if lockPath == "" {
		lockPath = filepath.Join(filepath.Dir(file), wire.LockFilename)
	} else if !filepath.IsAbs(lockPath) {
		lockPath, _ = filepath.Abs(lockPath)
	}
	return &project{Dir: abs, File: file, LockPath: lockPath, Config: cfg}, nil
}

// exporterWeights turns the project's locked weights into exporter inputs,
// in cog.yaml order. Weight bytes stream from the local store or the user's
// files when the exporter opens them.
func (p *project) exporterWeights(ctx context.Context) ([]exporter.Weight, error) {
	if len(p.Config.Weights) == 0 {
		return nil, nil
	}
	arts, err := weights.Artifacts(ctx, weights.ArtifactsOptions{ProjectDir: p.Dir, Config: p.Config, LockPath: p.LockPath})
	if err != nil {
		return nil, err
	}
	out := make([]exporter.Weight, 0, len(arts))
	for _, a := range arts {
		w := exporter.Weight{
			Name: a.Name, SetDigest: a.SetDigest, Size: a.Size, Manifest: a.Manifest,
			Config: exporter.Blob{Descriptor: a.Config.Descriptor, Open: a.Config.Open},
		}
		for _, l := range a.Layers {
			w.Layers = append(w.Layers, exporter.Blob{Descriptor: l.Descriptor, Open: l.Open})
		}
		out = append(out, w)
	}
	return out, nil
}

// defaultRef is cog.yaml's model: plus a UTC timestamp tag.
func (p *project) defaultRef() (string, error) {
	if p.Config.Model == "" {
		return "", fmt.Errorf("%s has no model: to push to; add `model: registry.example.com/you/name` or pass a reference", p.File)
	}
	return p.Config.Model + ":" + exporter.DefaultTag(time.Now()), nil
}

// parseTagRef parses a push reference; a missing tag becomes the UTC
// timestamp tag. Reserved cog- tags are refused.
func parseTagRef(s string) (name.Tag, error) {
	if strings.Contains(s, "@") {
		return name.Tag{}, fmt.Errorf("reference %q has a digest; push needs a repository[:tag]", s)
	}
	r, err := name.ParseReference(s, name.WithDefaultTag(""))
	if err != nil {
		return name.Tag{}, fmt.Errorf("invalid reference %q: %w", s, err)
	}
	t, ok := r.(name.Tag)
	if !ok {
		return name.Tag{}, fmt.Errorf("reference %q has no tag", s)
	}
	if t.TagStr() == "" {
		t = t.Context().Tag(exporter.DefaultTag(time.Now()))
	}
	if err := exporter.ValidateUserTag(t.TagStr()); err != nil {
		return name.Tag{}, err
	}
	return t, nil
}

// outputSpec is a parsed --output type=oci,dest=PATH.
type outputSpec struct {
	Type string
	Dest string
}

func parseOutput(s string) (outputSpec, error) {
	o := outputSpec{Type: "oci"}
	if s == "" {
		return o, nil
	}
	if !strings.Contains(s, "=") {
		o.Dest = s
		return o, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return o, fmt.Errorf("--output %q: %q is not key=value", s, kv)
		}
		switch strings.TrimSpace(k) {
		case "type":
			o.Type = v
		case "dest":
			o.Dest = v
		default:
			return o, fmt.Errorf("--output %q: unknown key %q (use type=oci,dest=PATH)", s, k)
		}
	}
	if o.Type != "oci" {
		return o, fmt.Errorf("--output type=%s is not supported; use type=oci,dest=DIR or dest=FILE.tar (or --push)", o.Type)
	}
	return o, nil
}

// defaultOutputDir is where `build` writes the OCI layout when no output
// is given: <project>/.cog/bundle (excluded from the build context).
func defaultOutputDir(p *project) string { return filepath.Join(p.Dir, ".cog", "bundle") }

// publishOpts says where an assembled bundle goes.
type publishOpts struct {
	Push     bool
	Ref      string // push reference, or the tag source for layouts
	Output   string // --output
	Progress string // --progress
	Jobs     int
}

// publish writes b to an OCI layout/tar or pushes it, and prints what it did.
func publish(ctx context.Context, p *project, b *exporter.Bundle, o publishOpts) error {
	if o.Push {
		ref, err := parseTagRef(o.Ref)
		if err != nil {
			return err
		}
		res, err := pushBundle(ctx, b, ref, o.Progress, o.Jobs)
		if err != nil {
			return err
		}
		printTree(os.Stdout, res)
		return nil
	}
	out, err := parseOutput(o.Output)
	if err != nil {
		return err
	}
	tag := exporter.DefaultTag(time.Now())
	if o.Ref != "" {
		t, err := parseTagRef(o.Ref)
		if err != nil {
			return err
		}
		tag = t.TagStr()
	}
	dest := out.Dest
	if dest == "" {
		if p == nil {
			return fmt.Errorf("no output given: pass --output type=oci,dest=PATH or --push REF")
		}
		dest = defaultOutputDir(p)
	}
	if exporter.IsTarDest(dest) {
		err = exporter.WriteTar(ctx, b, dest, tag)
	} else {
		err = exporter.WriteLayout(ctx, b, dest, tag)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "wrote %s (OCI %s) tag %s\n", dest, map[bool]string{true: "archive", false: "layout"}[exporter.IsTarDest(dest)], tag)
	fmt.Fprintf(os.Stdout, "index %s: %d image(s), %d attestation(s), %d weight(s)\n", b.Index.Digest, len(b.Images), len(b.Attestations), len(b.Weights))
	return nil
}

// cacheDir is $COG_CACHE_DIR (the weights store), where upload sessions and
// build staging live too.
func cacheDir() (string, error) { return store.DefaultDir() }
