package pack

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"github.com/cog-frontend/cog-frontend/wire"
)

// Packing parameters of spec §4 (the media types are wire's).
const (
	// DefaultBundleFileMax: files below this many bytes are bundled.
	DefaultBundleFileMax int64 = 64 << 20
	// DefaultBundleSizeMax caps the summed file bytes of one bundle.
	DefaultBundleSizeMax int64 = 256 << 20

	gzipLevelBundle = gzip.BestCompression
	gzipLevelLarge  = gzip.DefaultCompression

	// envelopeRevision counts packer byte changes the parameters below do
	// not capture (header fields, ordering, dir entries). It is Cog's value.
	envelopeRevision = 1
)

// incompressibleExts are the lower-cased extensions whose large files are
// stored as raw tar: gzip buys nothing on dense tensors.
var incompressibleExts = []string{".bin", ".gguf", ".onnx", ".parquet", ".pt", ".pth", ".safetensors"}

// PackOptions are the packing thresholds. The zero value means the spec
// defaults; anything else yields a different EnvelopeFormat.
type Options struct {
	BundleFileMax int64
	BundleSizeMax int64
}

func (o Options) fileMax() int64 {
	if o.BundleFileMax > 0 {
		return o.BundleFileMax
	}
	return DefaultBundleFileMax
}

func (o Options) sizeMax() int64 {
	if o.BundleSizeMax > 0 {
		return o.BundleSizeMax
	}
	return DefaultBundleSizeMax
}

// envelope is serialised in this field order (spec §7); the JSON tags are
// wire identifiers.
type envelope struct {
	BundleFileMax       int64    `json:"bundleFileMax"`
	BundleSizeMax       int64    `json:"bundleSizeMax"`
	GzipLevelBundle     int      `json:"gzipLevelBundle"`
	GzipLevelLarge      int      `json:"gzipLevelLarge"`
	IncompressibleExts  []string `json:"incompressibleExts"`
	MediaTypeCompressed string   `json:"mediaTypeCompressed"`
	MediaTypeRaw        string   `json:"mediaTypeRaw"`
	Revision            int      `json:"revision"`
}

// EnvelopeFormat names the packing parameters (spec §7) so a reader can
// tell whether recorded layer digests came from the same packing.
func (o Options) EnvelopeFormat() string {
	exts := slices.Clone(incompressibleExts)
	slices.Sort(exts)
	b, err := json.Marshal(envelope{
		BundleFileMax:       o.fileMax(),
		BundleSizeMax:       o.sizeMax(),
		GzipLevelBundle:     gzipLevelBundle,
		GzipLevelLarge:      gzipLevelLarge,
		IncompressibleExts:  exts,
		MediaTypeCompressed: wire.MediaTypeLayerTarGzip,
		MediaTypeRaw:        wire.MediaTypeLayerTar,
		Revision:            envelopeRevision,
	})
	if err != nil {
		panic(err) // a fixed struct of ints and strings always marshals
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
