package pull

import (
	"fmt"

	"github.com/opencontainers/go-digest"
)

// Formats of a weight.
const (
	FormatV1 = "v1" // one manifest per weight, a config blob listing files (spec §8)
	FormatV0 = "v0" // February 2026: one artifact, one gzip'd file per layer (spec §12)
)

// Weight is one set of files to deliver, as the bundle describes it.
type Weight struct {
	Name      string
	Format    string
	Target    string // v1: absolute directory in the container; v0: ""
	SetDigest string // v1 only
	Manifest  digest.Digest
	Config    digest.Digest // v1 only
	Files     []File        // sorted by path
	Layers    []Layer       // sorted by digest
}

// File is one file of a weight. For v1 its Path is relative to the target;
// for v0 it is the absolute destination in the container.
type File struct {
	Path   string
	Size   int64
	Digest string
	Layer  digest.Digest
	Name   string // v0: the file's vnd.cog.weights.name
}

// Layer is one blob of a weight.
type Layer struct {
	Digest    digest.Digest
	MediaType string
	Size      int64
}

// Size is the sum of the weight's file sizes.
func (w Weight) Size() int64 {
	var n int64
	for _, f := range w.Files {
		n += f.Size
	}
	return n
}

// FilesOf returns the files that layer l holds, in path order.
func (w Weight) FilesOf(l digest.Digest) []File {
	var out []File
	for _, f := range w.Files {
		if f.Layer == l {
			out = append(out, f)
		}
	}
	return out
}

// String names the weight for messages.
func (w Weight) String() string {
	if w.Format == FormatV0 {
		return fmt.Sprintf("weights %s (February 2026 bundle)", w.Manifest)
	}
	return fmt.Sprintf("weight %q (%s)", w.Name, w.Target)
}
