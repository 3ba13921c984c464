package pack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/wire"
)

// PackedFile is a file with the digest of the layer that holds it.
type PackedFile struct {
	Path   string
	Size   int64
	Digest string
	Layer  string
}

// PackedLayer is one layer's descriptor data.
type PackedLayer struct {
	Digest           string
	MediaType        string
	Size             int64
	SizeUncompressed int64
}

// The structs below fix the JSON key order of spec §8; encoding/json keeps
// struct field order, sorts map keys and escapes <, > and & as Cog's
// encoder does.
type configBlobJSON struct {
	Name      string           `json:"name"`
	Target    string           `json:"target"`
	SetDigest string           `json:"setDigest"`
	Files     []configFileJSON `json:"files"`
}

type configFileJSON struct {
	Path   string `json:"path"`
	Layer  string `json:"layer"`
	Size   int64  `json:"size"`
	Digest string `json:"digest"`
}

type descriptorJSON struct {
	MediaType   string            `json:"mediaType"`
	Size        int64             `json:"size"`
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type manifestJSON struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        descriptorJSON    `json:"config"`
	Layers        []descriptorJSON  `json:"layers"`
	Annotations   map[string]string `json:"annotations"`
}

// ConfigBlob returns the weight config blob (spec §8), files sorted by path.
func ConfigBlob(name, target, setDigest string, files []PackedFile) ([]byte, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("weight %q has no files", name)
	}
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b PackedFile) int { return strings.Compare(a.Path, b.Path) })
	c := configBlobJSON{Name: name, Target: target, SetDigest: setDigest, Files: make([]configFileJSON, len(sorted))}
	for i, f := range sorted {
		c.Files[i] = configFileJSON{Path: f.Path, Layer: f.Layer, Size: f.Size, Digest: f.Digest}
	}
	return json.Marshal(c)
}

// Manifest returns the weight manifest bytes (spec §8) for a config blob and
// layers; layers are sorted by digest so the bytes depend on the layer set
// only.
func Manifest(name, target, setDigest string, config []byte, layers []PackedLayer) ([]byte, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("weight %q has no layers", name)
	}
	sorted := slices.Clone(layers)
	slices.SortFunc(sorted, func(a, b PackedLayer) int { return strings.Compare(a.Digest, b.Digest) })
	m := manifestJSON{
		SchemaVersion: 2,
		MediaType:     ocispec.MediaTypeImageManifest,
		ArtifactType:  wire.ArtifactTypeWeight,
		Config:        descriptorJSON{MediaType: wire.MediaTypeWeightConfig, Size: int64(len(config)), Digest: Digest(config)},
		Layers:        make([]descriptorJSON, len(sorted)),
		Annotations: map[string]string{
			wire.AnnotationWeightName:      name,
			wire.AnnotationWeightSetDigest: setDigest,
			wire.AnnotationWeightTarget:    target,
		},
	}
	for i, l := range sorted {
		m.Layers[i] = descriptorJSON{
			MediaType:   l.MediaType,
			Size:        l.Size,
			Digest:      l.Digest,
			Annotations: map[string]string{wire.AnnotationWeightSizeUncompressed: strconv.FormatInt(l.SizeUncompressed, 10)},
		}
	}
	return json.Marshal(m)
}

// Digest returns "sha256:<hex>" of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
