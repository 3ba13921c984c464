package pull

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/wire"
)

// maxManifest bounds what is read into memory as a manifest or config
// blob; the distribution spec lets registries refuse manifests over 4 MiB.
const maxManifest = 4 << 20

// Resolve reads ref (a bundle index, a weight manifest, a February 2026
// weights artifact; by tag or digest) from src and returns the weights it
// delivers, in the bundle's order. names, when given, selects weights by
// name; a name that matches nothing is an error.
func Resolve(ctx context.Context, src Source, ref string, names []string) ([]Weight, error) {
	raw, mt, err := fetchManifest(ctx, src, ref)
	if err != nil {
		return nil, err
	}
	var ws []Weight
	switch mt {
	case ocispec.MediaTypeImageIndex, wire.MediaTypeDockerManifestList:
		var idx ocispec.Index
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, fmt.Errorf("index %s: %w", ref, err)
		}
		descs := WeightDescriptors(idx)
		if len(descs) == 0 {
			return nil, fmt.Errorf("%s holds no weights (an index of %d manifests, none a Cog weight); is it a bundle pushed with --format standalone?", ref, len(idx.Manifests))
		}
		for _, d := range descs {
			w, err := resolveWeight(ctx, src, d.Digest.String(), d.ArtifactType)
			if err != nil {
				return nil, err
			}
			ws = append(ws, w)
		}
	case ocispec.MediaTypeImageManifest:
		w, err := weightFromManifest(ctx, src, digest.FromBytes(raw), raw, "")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		ws = append(ws, w)
	default:
		return nil, fmt.Errorf("%s has media type %q: want a bundle index or a weight manifest", ref, mt)
	}
	return Select(ws, names)
}

// ResolveDigests reads the weight manifests named by digest (e.g. from a
// weights.lock) from src.
func ResolveDigests(ctx context.Context, src Source, digests []string) ([]Weight, error) {
	var ws []Weight
	for _, d := range digests {
		w, err := resolveWeight(ctx, src, d, "")
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// Select keeps the weights named in names (all when names is empty). A v0
// artifact is kept, reduced to its files of those names.
func Select(ws []Weight, names []string) ([]Weight, error) {
	if len(names) == 0 {
		return ws, nil
	}
	var out []Weight
	found := map[string]bool{}
	for _, w := range ws {
		if w.Format == FormatV0 {
			var fs []File
			keep := map[digest.Digest]bool{}
			for _, f := range w.Files {
				if n := v0Name(f); slices.Contains(names, n) {
					fs, keep[f.Layer], found[n] = append(fs, f), true, true
				}
			}
			if len(fs) == 0 {
				continue
			}
			w.Files = fs
			w.Layers = slices.DeleteFunc(slices.Clone(w.Layers), func(l Layer) bool { return !keep[l.Digest] })
			out = append(out, w)
			continue
		}
		if slices.Contains(names, w.Name) {
			out = append(out, w)
			found[w.Name] = true
		}
	}
	var have []string
	for _, w := range ws {
		if w.Format == FormatV0 {
			for _, f := range w.Files {
				have = append(have, v0Name(f))
			}
			continue
		}
		have = append(have, w.Name)
	}
	for _, n := range names {
		if !found[n] {
			return nil, fmt.Errorf("no weight named %q (the bundle has %s)", n, strings.Join(have, ", "))
		}
	}
	return out, nil
}

// v0Name is the weights name a v0 file carries, else its base name.
func v0Name(f File) string {
	if f.Name != "" {
		return f.Name
	}
	return path.Base(f.Path)
}

// WeightDescriptors picks the weight descriptors of a bundle index: today's
// (artifactType application/vnd.cog.weight.v1) and February 2026's
// (annotation vnd.cog.reference.type: weights). Images and BuildKit
// attestations are not weights.
func WeightDescriptors(idx ocispec.Index) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, d := range idx.Manifests {
		if d.Annotations[wire.AnnotationDockerReferenceType] == wire.DockerReferenceTypeAttestation {
			continue
		}
		if d.ArtifactType == wire.ArtifactTypeWeight || d.ArtifactType == wire.ArtifactTypeLegacyWeights ||
			d.Annotations[wire.AnnotationReferenceType] == wire.ReferenceTypeWeights {
			out = append(out, d)
		}
	}
	return out
}

func fetchManifest(ctx context.Context, src Source, ref string) ([]byte, string, error) {
	raw, mt, err := src.Manifest(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	if len(raw) > maxManifest {
		return nil, "", fmt.Errorf("%s is %d bytes, more than a manifest may be", ref, len(raw))
	}
	if d, err := digest.Parse(ref); err == nil && digest.FromBytes(raw) != d {
		return nil, "", fmt.Errorf("manifest %s: the content has digest %s; the source is corrupt or tampered with", ref, digest.FromBytes(raw))
	}
	if mt == "" || strings.HasPrefix(mt, "text/plain") || mt == "application/json" {
		mt = sniffMediaType(raw)
	}
	return raw, mt, nil
}

// sniffMediaType reads a manifest's own mediaType (an index when absent
// and it lists manifests).
func sniffMediaType(b []byte) string {
	var v struct {
		MediaType string            `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
	}
	_ = json.Unmarshal(b, &v)
	switch {
	case v.MediaType != "":
		return v.MediaType
	case v.Manifests != nil:
		return ocispec.MediaTypeImageIndex
	}
	return ocispec.MediaTypeImageManifest
}

func resolveWeight(ctx context.Context, src Source, ref, artifactType string) (Weight, error) {
	raw, _, err := fetchManifest(ctx, src, ref)
	if err != nil {
		return Weight{}, err
	}
	w, err := weightFromManifest(ctx, src, digest.FromBytes(raw), raw, artifactType)
	if err != nil {
		return Weight{}, fmt.Errorf("weight manifest %s: %w", ref, err)
	}
	return w, nil
}

func weightFromManifest(ctx context.Context, src Source, md digest.Digest, raw []byte, artifactType string) (Weight, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Weight{}, err
	}
	if m.ArtifactType == wire.ArtifactTypeLegacyWeights || artifactType == wire.ArtifactTypeLegacyWeights ||
		(m.ArtifactType != wire.ArtifactTypeWeight && m.Config.MediaType != wire.MediaTypeWeightConfig && isV0(m)) {
		return ParseV0(md, m)
	}
	if m.Config.MediaType != wire.MediaTypeWeightConfig {
		return Weight{}, fmt.Errorf("not a Cog weight (artifactType %q, config %q)", m.ArtifactType, m.Config.MediaType)
	}
	if m.Config.Size > maxManifest {
		return Weight{}, fmt.Errorf("config blob %s is %d bytes; refusing to read it into memory", m.Config.Digest, m.Config.Size)
	}
	// A connection dropped mid-body is retried like a failed request (the
	// request itself is retried inside Blob, whose error is final).
	var cfg []byte
	var openErr error
	err := src.Retry(ctx, "read config blob "+m.Config.Digest.String(), func() (bool, error) {
		rc, _, err := src.Blob(ctx, m.Config.Digest, 0, -1)
		if err != nil {
			openErr = err
			return false, nil
		}
		defer rc.Close()
		cfg, err = readAllLimited(rc, maxManifest)
		return false, err
	})
	if openErr != nil {
		return Weight{}, fmt.Errorf("config blob: %w", openErr)
	}
	if err != nil {
		return Weight{}, fmt.Errorf("config blob %s: %w", m.Config.Digest, err)
	}
	if digest.FromBytes(cfg) != m.Config.Digest || int64(len(cfg)) != m.Config.Size {
		return Weight{}, fmt.Errorf("config blob %s: content has digest %s (%d bytes); the source is corrupt or tampered with", m.Config.Digest, digest.FromBytes(cfg), len(cfg))
	}
	return ParseV1(md, m, cfg)
}

func isV0(m ocispec.Manifest) bool {
	for _, l := range m.Layers {
		if _, ok := l.Annotations[wire.AnnotationLegacyWeightsDest]; ok {
			return true
		}
	}
	return false
}

type configJSON struct {
	Name      string `json:"name"`
	Target    string `json:"target"`
	SetDigest string `json:"setDigest"`
	Files     []struct {
		Path   string `json:"path"`
		Layer  string `json:"layer"`
		Size   int64  `json:"size"`
		Digest string `json:"digest"`
	} `json:"files"`
}

// ParseV1 checks a weight manifest (spec §8) against its config blob and
// returns the weight. Everything later steps trust is checked here: paths
// are safe relative paths, each listed once, in a layer of the manifest;
// every layer holds a listed file; the set digest recomputed from the files
// equals the recorded one; name, target and set digest agree between the
// manifest annotations and the config.
func ParseV1(md digest.Digest, m ocispec.Manifest, cfg []byte) (Weight, error) {
	var c configJSON
	if err := json.Unmarshal(cfg, &c); err != nil {
		return Weight{}, fmt.Errorf("config blob %s: %w", m.Config.Digest, err)
	}
	w := Weight{Name: c.Name, Format: FormatV1, Target: c.Target, SetDigest: c.SetDigest, Manifest: md, Config: m.Config.Digest}
	for k, v := range map[string]string{wire.AnnotationWeightName: c.Name, wire.AnnotationWeightTarget: c.Target, wire.AnnotationWeightSetDigest: c.SetDigest} {
		if a, ok := m.Annotations[k]; ok && a != v {
			return Weight{}, fmt.Errorf("manifest annotation %s=%q disagrees with the config blob's %q", k, a, v)
		}
	}
	if err := CheckTarget(c.Target); err != nil {
		return Weight{}, fmt.Errorf("weight %q: %w", c.Name, err)
	}
	layers := map[digest.Digest]bool{}
	for _, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return Weight{}, fmt.Errorf("layer digest %q: %w", l.Digest, err)
		}
		switch l.MediaType {
		case wire.MediaTypeLayerTar, wire.MediaTypeLayerTarGzip:
		default:
			return Weight{}, fmt.Errorf("layer %s has media type %q; weight layers are %s or %s", l.Digest, l.MediaType, wire.MediaTypeLayerTar, wire.MediaTypeLayerTarGzip)
		}
		if layers[l.Digest] {
			return Weight{}, fmt.Errorf("layer %s is listed twice", l.Digest)
		}
		layers[l.Digest] = true
		w.Layers = append(w.Layers, Layer{Digest: l.Digest, MediaType: l.MediaType, Size: l.Size})
	}
	used := map[digest.Digest]bool{}
	seen := map[string]bool{}
	var pf []pack.File
	for _, f := range c.Files {
		if err := pack.ValidatePath(f.Path); err != nil {
			return Weight{}, fmt.Errorf("config blob: %w", err)
		}
		if seen[f.Path] {
			return Weight{}, fmt.Errorf("config blob lists %q twice", f.Path)
		}
		seen[f.Path] = true
		if _, err := digest.Parse(f.Digest); err != nil || !strings.HasPrefix(f.Digest, "sha256:") {
			return Weight{}, fmt.Errorf("config blob: file %q has digest %q, want sha256:<hex>", f.Path, f.Digest)
		}
		if f.Size < 0 {
			return Weight{}, fmt.Errorf("config blob: file %q has size %d", f.Path, f.Size)
		}
		ld := digest.Digest(f.Layer)
		if !layers[ld] {
			return Weight{}, fmt.Errorf("config blob: file %q is in layer %s, which the manifest does not list", f.Path, f.Layer)
		}
		used[ld] = true
		w.Files = append(w.Files, File{Path: f.Path, Size: f.Size, Digest: f.Digest, Layer: ld})
		pf = append(pf, pack.File{Path: f.Path, Size: f.Size, Digest: f.Digest})
	}
	for l := range layers {
		if !used[l] {
			return Weight{}, fmt.Errorf("layer %s holds no file the config blob lists", l)
		}
	}
	if got := pack.SetDigest(pf); got != c.SetDigest {
		return Weight{}, fmt.Errorf("set digest of the listed files is %s, the config blob says %s", got, c.SetDigest)
	}
	sortWeight(&w)
	return w, nil
}

// ParseV0 reads a February 2026 weights artifact (spec §12): each layer
// the gzip (or zstd, or nothing) of one raw file, described by layer
// annotations.
func ParseV0(md digest.Digest, m ocispec.Manifest) (Weight, error) {
	w := Weight{Name: "weights", Format: FormatV0, Manifest: md}
	seen := map[string]bool{}
	for _, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return Weight{}, fmt.Errorf("layer digest %q: %w", l.Digest, err)
		}
		switch l.MediaType {
		case MediaTypeV0Gzip, MediaTypeV0Raw, MediaTypeV0Zstd:
		default:
			return Weight{}, fmt.Errorf("layer %s has media type %q, not a February 2026 weights layer", l.Digest, l.MediaType)
		}
		a := l.Annotations
		dest := a[wire.AnnotationLegacyWeightsDest]
		if err := CheckTarget(dest); err != nil {
			return Weight{}, fmt.Errorf("layer %s: %s: %w", l.Digest, wire.AnnotationLegacyWeightsDest, err)
		}
		if seen[dest] {
			return Weight{}, fmt.Errorf("two layers deliver %s", dest)
		}
		seen[dest] = true
		orig := a[wire.AnnotationLegacyWeightsDigestOriginal]
		if _, err := digest.Parse(orig); err != nil || !strings.HasPrefix(orig, "sha256:") {
			return Weight{}, fmt.Errorf("layer %s: %s is %q, want sha256:<hex>", l.Digest, wire.AnnotationLegacyWeightsDigestOriginal, orig)
		}
		size, err := strconv.ParseInt(a[wire.AnnotationLegacyWeightsSizeUncompressed], 10, 64)
		if err != nil || size < 0 {
			return Weight{}, fmt.Errorf("layer %s: %s is %q, want a byte count", l.Digest, wire.AnnotationLegacyWeightsSizeUncompressed, a[wire.AnnotationLegacyWeightsSizeUncompressed])
		}
		w.Layers = append(w.Layers, Layer{Digest: l.Digest, MediaType: l.MediaType, Size: l.Size})
		w.Files = append(w.Files, File{Path: dest, Size: size, Digest: orig, Layer: l.Digest, Name: a[wire.AnnotationLegacyWeightsName]})
	}
	if len(w.Files) == 0 {
		return Weight{}, fmt.Errorf("the February 2026 weights artifact %s has no layers", md)
	}
	sortWeight(&w)
	return w, nil
}

// Media types of February 2026 weight layers.
const (
	MediaTypeV0Gzip = "application/vnd.cog.weights.layer.v1+gzip"
	MediaTypeV0Raw  = "application/vnd.cog.weights.layer.v1"
	MediaTypeV0Zstd = "application/vnd.cog.weights.layer.v1+zstd"
)

func sortWeight(w *Weight) {
	slices.SortFunc(w.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(w.Layers, func(a, b Layer) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
}

// CheckTarget checks an absolute directory or file path in the container:
// clean, absolute, not "/", and safe relative parts (so that ROOT+path
// stays inside ROOT).
func CheckTarget(t string) error {
	if !strings.HasPrefix(t, "/") || t == "/" || path.Clean(t) != t {
		return fmt.Errorf("path %q must be absolute, clean and not /", t)
	}
	return pack.ValidatePath(strings.TrimPrefix(t, "/"))
}
