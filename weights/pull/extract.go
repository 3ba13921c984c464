package pull

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/cog-frontend/cog-frontend/internal/ctxio"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/cog-frontend/cog-frontend/wire"
)

// Sink receives verified files: the content store.
type Sink interface {
	Has(digest string) bool
	// Put stores r's bytes, refusing them unless their digest is expected.
	Put(ctx context.Context, expected string, r io.Reader) (string, error)
}

// ErrUnsafe marks a layer refused for its content (an entry type, path or
// size the config blob does not allow).
type ErrUnsafe struct {
	Layer string
	Entry string
	Why   string
}

func (e *ErrUnsafe) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("layer %s refused: %s", e.Layer, e.Why)
	}
	return fmt.Sprintf("layer %s refused: entry %q: %s", e.Layer, e.Entry, e.Why)
}

// Extract reads one layer's bytes (as stored: compressed for gzip layers)
// and hands each file it holds to sink, checking it against files (the
// config blob's list for this layer): only regular files and directories,
// safe relative paths, each once, each listed, each of the listed size, and
// every listed file present. A file whose digest sink already has is read
// past, not stored again. The whole of r is consumed, so a caller hashing
// r sees every byte. February 2026 layers hold one raw file.
func Extract(ctx context.Context, l Layer, files []File, r io.Reader, sink Sink) error {
	r = ctxio.Reader(ctx, r)
	if err := extract(ctx, l, files, r, sink); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, r) // the gzip trailer, tar padding: all of it is hashed
	return err
}

func extract(ctx context.Context, l Layer, files []File, r io.Reader, sink Sink) error {
	d := l.Digest.String()
	var plain io.Reader
	switch l.MediaType {
	case wire.MediaTypeLayerTar, MediaTypeV0Raw:
		plain = r
	case wire.MediaTypeLayerTarGzip, MediaTypeV0Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("layer %s: not gzip: %w", d, err)
		}
		defer zr.Close()
		plain = zr
	case MediaTypeV0Zstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
		defer zr.Close()
		plain = zr
	default:
		return &ErrUnsafe{Layer: d, Why: fmt.Sprintf("media type %q is not a weight layer", l.MediaType)}
	}
	switch l.MediaType {
	case MediaTypeV0Raw, MediaTypeV0Gzip, MediaTypeV0Zstd:
		if len(files) != 1 {
			return &ErrUnsafe{Layer: d, Why: fmt.Sprintf("a February 2026 layer holds one file, %d are expected of it", len(files))}
		}
		return putFile(ctx, d, files[0], io.LimitReader(plain, files[0].Size+1), sink)
	}
	want := make(map[string]File, len(files))
	for _, f := range files {
		want[f.Path] = f
	}
	seen := map[string]bool{}
	tr := tar.NewReader(plain)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("layer %s: reading tar: %w", d, err)
		}
		f, ok, err := checkEntry(d, h, want, seen)
		if err != nil {
			return err
		}
		if !ok {
			continue // a directory
		}
		if err := putFile(ctx, d, f, tr, sink); err != nil {
			return err
		}
	}
	for _, f := range files {
		if !seen[f.Path] {
			return &ErrUnsafe{Layer: d, Entry: f.Path, Why: "listed in the config blob but missing from the layer"}
		}
	}
	return nil
}

// checkEntry applies the rules of a weight layer to one tar entry: it
// returns the listed file the entry holds, ok false for a directory entry
// (Cog's packer writes the parents of its files), or an *ErrUnsafe. seen
// collects the paths met so far.
func checkEntry(d string, h *tar.Header, want map[string]File, seen map[string]bool) (File, bool, error) {
	name := h.Name
	if h.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	if err := safeName(name); err != nil {
		return File{}, false, &ErrUnsafe{Layer: d, Entry: h.Name, Why: err.Error()}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return File{}, false, nil // Cog's packer writes the parents of its files
	case tar.TypeReg, '\x00':
	case tar.TypeSymlink:
		return File{}, false, &ErrUnsafe{Layer: d, Entry: h.Name, Why: "symlinks are not allowed in weight layers"}
	case tar.TypeLink:
		return File{}, false, &ErrUnsafe{Layer: d, Entry: h.Name, Why: "hardlinks are not allowed in weight layers"}
	case tar.TypeChar, tar.TypeBlock:
		return File{}, false, &ErrUnsafe{Layer: d, Entry: h.Name, Why: "device files are not allowed in weight layers"}
	case tar.TypeFifo:
		return File{}, false, &ErrUnsafe{Layer: d, Entry: h.Name, Why: "FIFOs are not allowed in weight layers"}
	default:
		return File{}, false, &ErrUnsafe{Layer: d, Entry: h.Name, Why: fmt.Sprintf("tar entry type %q is not allowed in weight layers", h.Typeflag)}
	}
	if seen[name] {
		return File{}, false, &ErrUnsafe{Layer: d, Entry: h.Name, Why: "the path appears twice"}
	}
	seen[name] = true
	f, ok := want[name]
	if !ok {
		return File{}, false, &ErrUnsafe{Layer: d, Entry: h.Name, Why: "the config blob does not list this file in this layer"}
	}
	if h.Size != f.Size {
		return File{}, false, &ErrUnsafe{Layer: d, Entry: h.Name, Why: fmt.Sprintf("%d bytes in the layer, %d in the config blob", h.Size, f.Size)}
	}
	return f, true, nil
}

// safeName refuses absolute paths, ".." and everything else a weight path
// may not be (spec §3).
func safeName(name string) error {
	if strings.HasPrefix(name, "/") {
		return fmt.Errorf("absolute paths are not allowed in weight layers")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return fmt.Errorf("paths with .. are not allowed in weight layers")
		}
	}
	return pack.ValidatePath(name)
}

// putFile stores one file, or reads past it when the store has it.
func putFile(ctx context.Context, layer string, f File, r io.Reader, sink Sink) error {
	cr := &countReader{r: r}
	if sink.Has(f.Digest) {
		if _, err := io.Copy(io.Discard, cr); err != nil {
			return err
		}
	} else if _, err := sink.Put(ctx, f.Digest, cr); err != nil {
		switch {
		case cr.err != nil:
			return cr.err // the stream broke, not the content
		case errors.Is(err, store.ErrDigestMismatch):
			return &ErrUnsafe{Layer: layer, Entry: f.Path, Why: err.Error()}
		}
		return fmt.Errorf("layer %s: storing %s: %w", layer, f.Path, err) // the store failed (a full disk)
	} else if _, err := io.Copy(io.Discard, cr); err != nil {
		return err
	}
	if cr.n != f.Size {
		return &ErrUnsafe{Layer: layer, Entry: f.Path, Why: fmt.Sprintf("holds %d bytes, the bundle says %d", cr.n, f.Size)}
	}
	return nil
}

type countReader struct {
	r   io.Reader
	n   int64
	err error // the first error other than EOF
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}
