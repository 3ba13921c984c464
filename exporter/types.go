package exporter

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Blob is a content-addressed blob that can be streamed on demand.
type Blob struct {
	Descriptor ocispec.Descriptor
	Open       func(ctx context.Context) (io.ReadCloser, error)
}

// Weight is one weight manifest to place in a bundle. The exporter does not
// know how weights are packed; the caller hands it exact bytes.
type Weight struct {
	Name      string
	SetDigest string
	Size      int64 // total uncompressed bytes, for the index annotation
	Manifest  []byte
	Config    Blob
	Layers    []Blob
}
