package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/cog-frontend/cog-frontend/exporter"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/docker/go-units"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

func init() { register(newInspectCmd) }

// inspection is what `inspect --json` prints.
type inspection struct {
	Reference    string       `json:"reference"`
	Digest       string       `json:"digest"`
	MediaType    string       `json:"mediaType"`
	Format       string       `json:"format"` // bundle, bundle-v0, standalone, index
	Images       []imageInfo  `json:"images"`
	Attestations []attestInfo `json:"attestations"`
	Weights      []weightInfo `json:"weights"`
}

type imageInfo struct {
	Digest   string            `json:"digest"`
	Platform string            `json:"platform"`
	Labels   map[string]string `json:"labels,omitempty"`
}

type attestInfo struct {
	Digest string `json:"digest"`
	For    string `json:"for,omitempty"`
}

type weightInfo struct {
	Name      string `json:"name"`
	Target    string `json:"target"`
	SetDigest string `json:"setDigest,omitempty"`
	Size      int64  `json:"size"`
	Layers    int    `json:"layers"`
	Files     int    `json:"files,omitempty"`
	Digest    string `json:"digest"`
	Format    string `json:"format"` // v1 (today) or v0 (February 2026)
}

func newInspectCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "inspect REF|oci-layout://DIR[:TAG]",
		Short: "Show a bundle's images, weights and attestations (also reads February 2026 bundles and plain images)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := inspect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(in)
			}
			printInspection(os.Stdout, in)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func platformString(p *ocispec.Platform) string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func inspect(ctx context.Context, ref string) (*inspection, error) {
	src, root, err := resolveRoot(ctx, ref)
	if err != nil {
		return nil, err
	}
	ms, err := exporter.Manifests(ctx, src, root)
	if err != nil {
		return nil, err
	}
	in := &inspection{Reference: ref, Digest: root.Digest.String(), MediaType: root.MediaType, Format: "index", Images: []imageInfo{}, Attestations: []attestInfo{}, Weights: []weightInfo{}}
	if root.MediaType == ocispec.MediaTypeImageManifest || root.MediaType == wire.MediaTypeDockerManifest {
		in.Format = wire.FormatStandalone
	}
	for _, d := range ms {
		switch {
		case exporter.IsAttestation(d):
			in.Attestations = append(in.Attestations, attestInfo{Digest: d.Digest.String(), For: d.Annotations[wire.AnnotationDockerReferenceDigest]})
		case exporter.IsWeight(d):
			ws, err := inspectWeight(ctx, src, d)
			if err != nil {
				return nil, err
			}
			in.Weights = append(in.Weights, ws...)
		default:
			im := imageInfo{Digest: d.Digest.String(), Platform: platformString(d.Platform)}
			im.Labels, _ = imageLabels(ctx, src, d)
			in.Images = append(in.Images, im)
		}
	}
	if len(in.Weights) > 0 {
		in.Format = wire.FormatBundle
		if in.Weights[0].Format == "v0" {
			in.Format = "bundle-v0"
		}
	} else if in.Format == "index" && len(in.Images) > 0 {
		in.Format = wire.FormatStandalone
	}
	return in, nil
}

// imageLabels returns the Cog and OCI labels of an image's config.
func imageLabels(ctx context.Context, src exporter.Source, d ocispec.Descriptor) (map[string]string, error) {
	raw, err := exporter.ReadAllVerified(ctx, src, d)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	cfg, err := exporter.ReadAllVerified(ctx, src, m.Config)
	if err != nil {
		return nil, err
	}
	var img ocispec.Image
	if err := json.Unmarshal(cfg, &img); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range img.Config.Labels {
		if strings.HasPrefix(k, wire.LabelPrefix) || strings.HasPrefix(k, "org.opencontainers.image.") {
			out[k] = v
		}
	}
	return out, nil
}

// labelSummary keeps a label to one short line for the tree: multi-line
// values (run.cog.pip_freeze) show their first line and a line count.
func labelSummary(v string) string {
	if n := strings.Count(v, "\n") + 1; n > 1 {
		v = fmt.Sprintf("%s ... (%d lines)", v[:strings.IndexByte(v, '\n')], n)
	}
	if len(v) > 120 {
		v = v[:117] + "..."
	}
	return v
}

func inspectWeight(ctx context.Context, src exporter.Source, d ocispec.Descriptor) ([]weightInfo, error) {
	raw, err := exporter.ReadAllVerified(ctx, src, d)
	if err != nil {
		return nil, fmt.Errorf("weight manifest %s: %w", d.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("weight manifest %s: %w", d.Digest, err)
	}
	if d.ArtifactType == wire.ArtifactTypeLegacyWeights || m.ArtifactType == wire.ArtifactTypeLegacyWeights ||
		(m.ArtifactType == "" && d.ArtifactType != wire.ArtifactTypeWeight) {
		// February 2026: one artifact, one layer per file, described by
		// layer annotations.
		var out []weightInfo
		for _, l := range m.Layers {
			sz, _ := strconv.ParseInt(l.Annotations[wire.AnnotationLegacyWeightsSizeUncompressed], 10, 64)
			out = append(out, weightInfo{Name: l.Annotations[wire.AnnotationLegacyWeightsName], Target: l.Annotations[wire.AnnotationLegacyWeightsDest],
				Size: sz, Layers: 1, Files: 1, Digest: d.Digest.String(), Format: "v0"})
		}
		return out, nil
	}
	w := weightInfo{Name: m.Annotations[wire.AnnotationWeightName], Target: m.Annotations[wire.AnnotationWeightTarget],
		SetDigest: m.Annotations[wire.AnnotationWeightSetDigest], Layers: len(m.Layers), Digest: d.Digest.String(), Format: "v1"}
	if s, err := strconv.ParseInt(d.Annotations[wire.AnnotationWeightSizeUncompressed], 10, 64); err == nil {
		w.Size = s
	} else {
		for _, l := range m.Layers {
			s, _ := strconv.ParseInt(l.Annotations[wire.AnnotationWeightSizeUncompressed], 10, 64)
			w.Size += s
		}
	}
	if cfg, err := exporter.ReadAllVerified(ctx, src, m.Config); err == nil {
		var c struct {
			Files []json.RawMessage `json:"files"`
		}
		if json.Unmarshal(cfg, &c) == nil {
			w.Files = len(c.Files)
		}
	}
	return []weightInfo{w}, nil
}

func printInspection(w io.Writer, in *inspection) {
	fmt.Fprintf(w, "%s  (%s)\n  %s %s\n", in.Reference, in.Format, in.MediaType, in.Digest)
	fmt.Fprintln(w, "  images:")
	for _, im := range in.Images {
		fmt.Fprintf(w, "    %-14s %s\n", im.Platform, im.Digest)
		keys := make([]string, 0, len(im.Labels))
		for k := range im.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "      %s=%s\n", k, labelSummary(im.Labels[k]))
		}
	}
	if len(in.Weights) > 0 {
		fmt.Fprintln(w, "  weights:")
		for _, wt := range in.Weights {
			fmt.Fprintf(w, "    %-16s %-28s %9s  %d layer(s)", wt.Name, wt.Target, units.HumanSize(float64(wt.Size)), wt.Layers)
			if wt.Files > 0 {
				fmt.Fprintf(w, ", %d file(s)", wt.Files)
			}
			fmt.Fprintf(w, "\n      set %s  manifest %s  [%s]\n", wt.SetDigest, wt.Digest, wt.Format)
		}
	}
	if len(in.Attestations) > 0 {
		fmt.Fprintln(w, "  attestations:")
		for _, a := range in.Attestations {
			fmt.Fprintf(w, "    %s for %s\n", a.Digest, a.For)
		}
	}
}
