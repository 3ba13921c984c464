package exporter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// unknownPlatform is written on every weight descriptor. It is never
// omitted: Cog's reader dereferences it.
func unknownPlatform() *ocispec.Platform {
	return &ocispec.Platform{Architecture: "unknown", OS: "unknown"}
}

// Bundle is an assembled bundle index and everything it references.
type Bundle struct {
	// Index is the descriptor of IndexBytes (media type OCI index).
	Index      ocispec.Descriptor
	IndexBytes []byte
	// Images are the runnable model image manifests, with real platforms.
	Images []ocispec.Descriptor
	// Attestations are BuildKit's attestation manifests, as they were.
	Attestations []ocispec.Descriptor
	// Weights are in cog.yaml order; WeightDescs[i] describes Weights[i].
	Weights     []Weight
	WeightDescs []ocispec.Descriptor
	// Source serves the image and attestation manifests and their blobs.
	Source Source
}

// IsAttestation reports whether d is a BuildKit attestation manifest.
func IsAttestation(d ocispec.Descriptor) bool {
	return d.Annotations[wire.AnnotationDockerReferenceType] == wire.DockerReferenceTypeAttestation
}

// IsWeight reports whether d is a weight descriptor of today's format or of
// the February 2026 format.
func IsWeight(d ocispec.Descriptor) bool {
	return d.ArtifactType == wire.ArtifactTypeWeight || d.ArtifactType == wire.ArtifactTypeLegacyWeights ||
		d.Annotations[wire.AnnotationReferenceType] == wire.ReferenceTypeWeights
}

// Assemble builds the bundle index from the model's manifests (image
// manifests with their platforms, and attestation manifests, in the order
// BuildKit gave them) and the weights in cog.yaml order. Weight descriptors
// already present in manifests (when re-bundling a bundle) are dropped and
// replaced by weights. The result is a pure function of its inputs.
func Assemble(manifests []ocispec.Descriptor, weights []Weight, src Source) (*Bundle, error) {
	b := &Bundle{Source: src}
	for _, d := range manifests {
		switch {
		case IsAttestation(d):
			b.Attestations = append(b.Attestations, d)
		case IsWeight(d):
			// replaced below
		default:
			if d.MediaType != ocispec.MediaTypeImageManifest && d.MediaType != wire.MediaTypeDockerManifest {
				return nil, fmt.Errorf("model image descriptor %s has media type %q; expected an image manifest (%s or %s)", d.Digest, d.MediaType, ocispec.MediaTypeImageManifest, wire.MediaTypeDockerManifest)
			}
			if d.Platform == nil || d.Platform.OS == "" || d.Platform.Architecture == "" || d.Platform.OS == "unknown" {
				return nil, fmt.Errorf("model image manifest %s has no real platform; the bundle needs each image's os/architecture", d.Digest)
			}
			b.Images = append(b.Images, d)
		}
	}
	if len(b.Images) == 0 {
		return nil, fmt.Errorf("no model image manifest among the %d manifest(s) given; build the model image first", len(manifests))
	}
	seen := map[string]bool{}
	for i, w := range weights {
		if seen[w.Name] {
			return nil, fmt.Errorf("weight %q appears twice; weight names must be unique", w.Name)
		}
		seen[w.Name] = true
		d, err := weightDescriptor(w)
		if err != nil {
			return nil, fmt.Errorf("weight %d (%q): %w", i, w.Name, err)
		}
		b.Weights = append(b.Weights, w)
		b.WeightDescs = append(b.WeightDescs, d)
	}
	all := make([]ocispec.Descriptor, 0, len(b.Images)+len(b.Attestations)+len(b.WeightDescs))
	all = append(all, b.Images...)
	all = append(all, b.Attestations...)
	all = append(all, b.WeightDescs...)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: all}
	idx.SchemaVersion = 2
	raw, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	b.IndexBytes = raw
	b.Index = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	return b, nil
}

// weightDescriptor checks that w's manifest bytes agree with its config and
// layer blobs, and returns the index descriptor for it.
func weightDescriptor(w Weight) (ocispec.Descriptor, error) {
	if w.Name == "" {
		return ocispec.Descriptor{}, fmt.Errorf("weight has no name")
	}
	var m ocispec.Manifest
	dec := json.NewDecoder(bytes.NewReader(w.Manifest))
	if err := dec.Decode(&m); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("manifest is not valid JSON: %w", err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != wire.ArtifactTypeWeight {
		return ocispec.Descriptor{}, fmt.Errorf("manifest has mediaType %q artifactType %q; want %q and %q", m.MediaType, m.ArtifactType, ocispec.MediaTypeImageManifest, wire.ArtifactTypeWeight)
	}
	if !sameBlob(m.Config, w.Config.Descriptor) {
		return ocispec.Descriptor{}, fmt.Errorf("manifest config %s (%d bytes) does not match the config blob given (%s, %d bytes)", m.Config.Digest, m.Config.Size, w.Config.Descriptor.Digest, w.Config.Descriptor.Size)
	}
	if len(m.Layers) != len(w.Layers) {
		return ocispec.Descriptor{}, fmt.Errorf("manifest lists %d layers but %d layer blobs were given", len(m.Layers), len(w.Layers))
	}
	given := map[digest.Digest]int64{}
	for _, l := range w.Layers {
		if l.Open == nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %s cannot be opened (no Open)", l.Descriptor.Digest)
		}
		given[l.Descriptor.Digest] = l.Descriptor.Size
	}
	for _, l := range m.Layers {
		if sz, ok := given[l.Digest]; !ok || sz != l.Size {
			return ocispec.Descriptor{}, fmt.Errorf("manifest layer %s (%d bytes) has no matching layer blob", l.Digest, l.Size)
		}
	}
	if w.Config.Open == nil {
		return ocispec.Descriptor{}, fmt.Errorf("config blob cannot be opened (no Open)")
	}
	if m.Annotations[wire.AnnotationWeightName] != "" && m.Annotations[wire.AnnotationWeightName] != w.Name {
		return ocispec.Descriptor{}, fmt.Errorf("manifest names the weight %q, not %q", m.Annotations[wire.AnnotationWeightName], w.Name)
	}
	if w.SetDigest == "" {
		return ocispec.Descriptor{}, fmt.Errorf("no set digest")
	}
	if _, err := digest.Parse(w.SetDigest); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("set digest %q: %w", w.SetDigest, err)
	}
	return ocispec.Descriptor{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: wire.ArtifactTypeWeight,
		Digest:       digest.FromBytes(w.Manifest),
		Size:         int64(len(w.Manifest)),
		Platform:     unknownPlatform(),
		Annotations: map[string]string{
			wire.AnnotationWeightName:             w.Name,
			wire.AnnotationWeightSetDigest:        w.SetDigest,
			wire.AnnotationWeightSizeUncompressed: strconv.FormatInt(w.Size, 10),
			wire.AnnotationReferenceType:          wire.ReferenceTypeWeights,
		},
	}, nil
}

func sameBlob(a, b ocispec.Descriptor) bool {
	return a.Digest == b.Digest && a.Size == b.Size && a.MediaType == b.MediaType
}
