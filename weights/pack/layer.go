package pack

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// epoch is the timestamp of every tar header. Go's archive/tar writes
// atime/ctime as PAX records ("11 atime=0\n11 ctime=0\n") because they are
// set and the format is PAX; mtime 0 fits the ustar field and gets no
// record. That is exactly Cog's header set.
var epoch = time.Unix(0, 0)

// OpenFunc opens the content of one planned file of a layer.
type OpenFunc func(ctx context.Context, f File) (io.ReadCloser, error)

// LayerResult is what streaming a layer yields.
type LayerResult struct {
	Layer       PackedLayer
	FileDigests []string // parallel to LayerPlan.Files
}

// copyBufSize and copyBufs bound the memory of one layer stream: the reader
// works ahead of the file hasher by at most copyBufs buffers.
const (
	copyBufSize = 1 << 20
	copyBufs    = 4
)

// WriteLayer writes the exact stored bytes of lp (tar, gzip'd when the media
// type says so) to w and returns the layer digest and size together with
// every file's sha256, computed from the same read of each file: the file
// hash runs in its own goroutine on the buffers the tar writer consumes, so
// a raw layer costs one read and two hashes running in parallel.
func WriteLayer(ctx context.Context, lp LayerPlan, open OpenFunc, w io.Writer) (LayerResult, error) {
	layerHash := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(w, layerHash)}
	var tarSink io.Writer = counter
	var gz *gzip.Writer
	if lp.Gzip() {
		var err error
		gz, err = gzip.NewWriterLevel(counter, lp.gzipLevel())
		if err != nil {
			return LayerResult{}, err
		}
		tarSink = gz
	}
	tw := tar.NewWriter(tarSink)
	for _, d := range layerDirs(lp.Files) {
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755,
			ModTime: epoch, AccessTime: epoch, ChangeTime: epoch, Format: tar.FormatPAX,
		}); err != nil {
			return LayerResult{}, fmt.Errorf("write tar header for %s/: %w", d, err)
		}
	}

	fh := newFileHasher()
	defer fh.close()
	digests := make([]string, len(lp.Files))
	for i, f := range lp.Files {
		if err := ctx.Err(); err != nil {
			return LayerResult{}, err
		}
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: f.Path, Size: f.Size, Mode: 0o644,
			ModTime: epoch, AccessTime: epoch, ChangeTime: epoch, Format: tar.FormatPAX,
		}); err != nil {
			return LayerResult{}, fmt.Errorf("write tar header for %s: %w", f.Path, err)
		}
		d, err := copyFile(ctx, f, open, tw, fh)
		if err != nil {
			return LayerResult{}, err
		}
		if f.Digest != "" && d != f.Digest {
			return LayerResult{}, fmt.Errorf("%s: content is %s, expected %s: the file changed since it was recorded; run `cog-frontend weights import`", f.Path, d, f.Digest)
		}
		digests[i] = d
	}
	if err := tw.Close(); err != nil {
		return LayerResult{}, err
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return LayerResult{}, err
		}
	}
	return LayerResult{
		Layer: PackedLayer{
			Digest:           "sha256:" + hex.EncodeToString(layerHash.Sum(nil)),
			MediaType:        lp.MediaType,
			Size:             counter.n,
			SizeUncompressed: lp.UncompressedSize(),
		},
		FileDigests: digests,
	}, nil
}

// copyFile streams exactly f.Size bytes of f into w and returns their
// sha256. A file that is shorter or longer than planned changed under us;
// that is an error rather than a silently wrong layer.
func copyFile(ctx context.Context, f File, open OpenFunc, w io.Writer, fh *fileHasher) (string, error) {
	r, err := open(ctx, f)
	if err != nil {
		return "", err
	}
	defer r.Close()
	remaining := f.Size
	for remaining > 0 {
		if err := ctx.Err(); err != nil {
			fh.abandon()
			return "", err
		}
		buf := <-fh.free
		n := int64(len(buf))
		if n > remaining {
			n = remaining
		}
		got, err := io.ReadFull(r, buf[:n])
		if err != nil {
			fh.free <- buf
			fh.abandon()
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				return "", fmt.Errorf("%s: file is shorter than the %d bytes it had when listed: it changed while being read; run `cog-frontend weights import` once nothing writes to it", f.Path, f.Size)
			}
			return "", fmt.Errorf("read %s: %w", f.Path, err)
		}
		fh.work <- buf[:got]
		if _, err := w.Write(buf[:got]); err != nil {
			fh.abandon()
			return "", fmt.Errorf("pack %s: %w", f.Path, err)
		}
		remaining -= int64(got)
	}
	var one [1]byte
	if n, _ := r.Read(one[:]); n > 0 {
		fh.abandon()
		return "", fmt.Errorf("%s: file is longer than the %d bytes it had when listed: it changed while being read; run `cog-frontend weights import` once nothing writes to it", f.Path, f.Size)
	}
	return fh.sum(), nil
}

// fileHasher hashes file content in its own goroutine so that the file
// digest and the layer digest (or gzip) of the same bytes use two cores.
type fileHasher struct {
	work chan []byte // a nil slice ends the current file
	free chan []byte
	sums chan string
}

func newFileHasher() *fileHasher {
	fh := &fileHasher{
		work: make(chan []byte, copyBufs),
		free: make(chan []byte, copyBufs),
		sums: make(chan string, 1),
	}
	for range copyBufs {
		fh.free <- make([]byte, copyBufSize)
	}
	go func() {
		h := sha256.New()
		for b := range fh.work {
			if b == nil {
				fh.sums <- "sha256:" + hex.EncodeToString(h.Sum(nil))
				h.Reset()
				continue
			}
			h.Write(b)
			fh.free <- b[:cap(b)]
		}
	}()
	return fh
}

func (fh *fileHasher) sum() string {
	fh.work <- nil
	return <-fh.sums
}

// abandon ends a file whose hash is no longer wanted.
func (fh *fileHasher) abandon() { _ = fh.sum() }

func (fh *fileHasher) close() { close(fh.work) }

// HashReader returns the sha256 and length of everything r yields.
func HashReader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, copyBufSize))
	if err != nil {
		return "", n, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

// layerDirs returns every parent directory of every file, sorted and
// de-duplicated, without the trailing slash.
func layerDirs(files []File) []string {
	seen := map[string]bool{}
	var dirs []string
	for _, f := range files {
		parts := strings.Split(f.Path, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/")
			if !seen[d] {
				seen[d] = true
				dirs = append(dirs, d)
			}
		}
	}
	sort.Strings(dirs)
	return dirs
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
