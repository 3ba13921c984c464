package weights

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Blob is one content-addressed blob of a weight artifact. Open streams
// exactly the bytes that Descriptor names, from the user's files or the
// local store; nothing is held in memory.
type Blob struct {
	Descriptor ocispec.Descriptor
	Open       func(ctx context.Context) (io.ReadCloser, error)
}

// Artifact is one packed weight, ready to publish: its manifest bytes (whose
// digest is the lockfile's "digest"), config blob and layers.
type Artifact struct {
	Name      string
	Target    string
	SetDigest string
	Size      int64 // total uncompressed bytes of the weight's files
	Manifest  []byte
	Config    Blob
	Layers    []Blob
}
