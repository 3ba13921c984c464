// Package pulltest builds weight artifacts in memory with the real packer,
// for the tests of the pull and materialize packages.
package pulltest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sort"
	"strconv"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/internal/registry/registrytest"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/wire"
)

// Built is one weight's bytes.
type Built struct {
	Name, Target, SetDigest string
	Manifest, Config        []byte
	Layers                  map[digest.Digest][]byte
	Descs                   []pack.PackedLayer
}

// ManifestDigest is the weight manifest's digest.
func (b Built) ManifestDigest() digest.Digest { return digest.FromBytes(b.Manifest) }

// Weight packs files (path → content) as Cog does, with opts' thresholds.
func Weight(name, target string, files map[string][]byte, opts pack.Options) Built {
	var fs []pack.File
	for p, d := range files {
		fs = append(fs, pack.File{Path: p, Size: int64(len(d))})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
	open := func(_ context.Context, f pack.File) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(files[f.Path])), nil
	}
	b := Built{Name: name, Target: target, Layers: map[digest.Digest][]byte{}}
	var pfs []pack.PackedFile
	var all []pack.File
	for _, lp := range pack.Plan(fs, opts) {
		var buf bytes.Buffer
		res, err := pack.WriteLayer(context.Background(), lp, open, &buf)
		if err != nil {
			panic(err)
		}
		b.Layers[digest.Digest(res.Layer.Digest)] = buf.Bytes()
		b.Descs = append(b.Descs, res.Layer)
		for i, f := range lp.Files {
			pfs = append(pfs, pack.PackedFile{Path: f.Path, Size: f.Size, Digest: res.FileDigests[i], Layer: res.Layer.Digest})
			all = append(all, pack.File{Path: f.Path, Size: f.Size, Digest: res.FileDigests[i]})
		}
	}
	b.SetDigest = pack.SetDigest(all)
	var err error
	if b.Config, err = pack.ConfigBlob(name, target, b.SetDigest, pfs); err != nil {
		panic(err)
	}
	if b.Manifest, err = pack.Manifest(name, target, b.SetDigest, b.Config, b.Descs); err != nil {
		panic(err)
	}
	return b
}

// Index is a bundle index of one image manifest digest (not stored) and
// the weights, as the exporter writes it (spec §9).
func Index(ws ...Built) []byte {
	idx := ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex}
	img := []byte(`{"schemaVersion":2}`)
	idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(img), Size: int64(len(img)),
		Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}})
	for _, w := range ws {
		var size int64
		for _, l := range w.Descs {
			size += l.SizeUncompressed
		}
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageManifest, ArtifactType: wire.ArtifactTypeWeight,
			Digest: w.ManifestDigest(), Size: int64(len(w.Manifest)),
			Platform: &ocispec.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{wire.AnnotationWeightName: w.Name, wire.AnnotationWeightSetDigest: w.SetDigest,
				wire.AnnotationWeightSizeUncompressed: strconv.FormatInt(size, 10), wire.AnnotationReferenceType: wire.ReferenceTypeWeights},
		})
	}
	raw, _ := json.Marshal(idx)
	return raw
}

// Publish puts the weights (blobs, manifests under their cog-weight tags)
// and, with tag set, an index of them under tag into repo.
func Publish(reg *registrytest.Registry, repo, tag string, ws ...Built) {
	for _, w := range ws {
		for _, l := range w.Layers {
			reg.PutBlob(repo, l)
		}
		reg.PutBlob(repo, w.Config)
		reg.PutManifest(repo, wire.WeightTag(w.Name, w.SetDigest), ocispec.MediaTypeImageManifest, w.Manifest)
	}
	if tag != "" {
		reg.PutManifest(repo, tag, ocispec.MediaTypeImageIndex, Index(ws...))
	}
}

// V0File is one file of a February 2026 weights artifact.
type V0File struct {
	Name, Dest string
	Data       []byte
}

// V0 builds a February 2026 weights artifact (spec §12): each layer the
// gzip of one raw file. It returns the manifest and the layers.
func V0(files ...V0File) ([]byte, map[digest.Digest][]byte) {
	layers := map[digest.Digest][]byte{}
	m := ocispec.Manifest{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageManifest, ArtifactType: wire.ArtifactTypeLegacyWeights}
	empty := []byte("{}")
	m.Config = ocispec.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: digest.FromBytes(empty), Size: 2}
	for _, f := range files {
		gz := Gzip(f.Data)
		d := digest.FromBytes(gz)
		layers[d] = gz
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: "application/vnd.cog.weights.layer.v1+gzip", Digest: d, Size: int64(len(gz)),
			Annotations: map[string]string{
				wire.AnnotationLegacyWeightsName: f.Name, wire.AnnotationLegacyWeightsDest: f.Dest,
				wire.AnnotationLegacyWeightsDigestOriginal:   digest.FromBytes(f.Data).String(),
				wire.AnnotationLegacyWeightsSizeUncompressed: strconv.Itoa(len(f.Data)),
			}})
	}
	raw, _ := json.Marshal(m)
	return raw, layers
}
