package pack

import (
	"path"
	"slices"
	"strings"

	"github.com/cog-frontend/cog-frontend/wire"
)

// File is one file of a weight: its path relative to the target, its size
// and (once known) its digest "sha256:<hex>".
type File struct {
	Path   string
	Size   int64
	Digest string
}

// LayerPlan is one planned layer: the files in tar order and the layer
// media type.
type LayerPlan struct {
	Files     []File
	MediaType string
}

// Gzip reports whether the layer is a gzip'd tar.
func (l LayerPlan) Gzip() bool { return l.MediaType == wire.MediaTypeLayerTarGzip }

// gzipLevel follows Cog's packer, not its prose: a gzip layer holding more
// than one file (a bundle) uses BestCompression, a gzip layer holding one
// file uses DefaultCompression - including a bundle that happens to hold a
// single small file. The bytes Cog published depend on this.
func (l LayerPlan) gzipLevel() int {
	if len(l.Files) > 1 {
		return gzipLevelBundle
	}
	return gzipLevelLarge
}

// UncompressedSize is the sum of the layer's file sizes (tar headers
// excluded), the lockfile's sizeUncompressed.
func (l LayerPlan) UncompressedSize() int64 {
	var n int64
	for _, f := range l.Files {
		n += f.Size
	}
	return n
}

// Plan assigns files to layers (spec §4). It is a pure function of the
// files' paths and sizes: small files, sorted by path, are packed greedily
// into gzip bundles first; then every large file, in path order, gets its
// own layer, raw for incompressible extensions and gzip otherwise.
func Plan(files []File, opts Options) []LayerPlan {
	sorted := slices.Clone(files)
	slices.SortStableFunc(sorted, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	fileMax, sizeMax := opts.fileMax(), opts.sizeMax()

	var layers []LayerPlan
	var cur []File
	var curSize int64
	for _, f := range sorted {
		if f.Size >= fileMax {
			continue
		}
		if curSize > 0 && curSize+f.Size > sizeMax {
			layers = append(layers, LayerPlan{Files: cur, MediaType: wire.MediaTypeLayerTarGzip})
			cur, curSize = nil, 0
		}
		cur = append(cur, f)
		curSize += f.Size
	}
	if len(cur) > 0 {
		layers = append(layers, LayerPlan{Files: cur, MediaType: wire.MediaTypeLayerTarGzip})
	}
	for _, f := range sorted {
		if f.Size < fileMax {
			continue
		}
		mt := wire.MediaTypeLayerTarGzip
		if slices.Contains(incompressibleExts, strings.ToLower(path.Ext(f.Path))) {
			mt = wire.MediaTypeLayerTar
		}
		layers = append(layers, LayerPlan{Files: []File{f}, MediaType: mt})
	}
	return layers
}
