package pull

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cog-frontend/cog-frontend/internal/ctxio"
	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/cog-frontend/cog-frontend/wire"
)

// Bounds of the bytes of a one-file layer around the file's content: its
// tar headers (PAX records, parent directories) and its padding and end of
// archive. Anything larger is not a layer of one file.
const (
	maxHead    = 1 << 20
	maxTrailer = 1 << 20
)

// directCopyBufs and directCopyBuf bound the memory of a direct download:
// the reader works ahead of the writer and the layer hasher by at most
// that many buffers.
const (
	directCopyBufs = 4
	directCopyBuf  = 1 << 20
)

// isDirect reports whether a layer is one uncompressed file, which direct
// can download straight into the file's place in the store.
func isDirect(l Layer, files []File) bool {
	return len(files) == 1 && (l.MediaType == wire.MediaTypeLayerTar || l.MediaType == MediaTypeV0Raw)
}

// direct downloads a layer that is one uncompressed file (the raw tar of a
// large file, or a February 2026 raw layer) into that file's partial ingest
// in the store, so each byte is written once; the layer digest and the
// file digest are computed in parallel from the same buffers. The partial
// is the resume state: the layer bytes before the file's content (its tar
// headers) are saved with it, so its length gives the layer offset to
// continue from. The file becomes visible only once the layer's structure,
// the file digest and the layer digest all check out. retry is as for
// download.
func (f *Fetcher) direct(ctx context.Context, j *layerJob) (retry bool, err error) {
	l, file := j.layer, j.files[0]
	d := l.Digest.String()
	p, err := f.Store.Resume("pull file " + d)
	if err != nil {
		return false, fmt.Errorf("layer %s: content store %s: %w", d, f.Store.Root(), err)
	}
	head := p.Prefix()
	if p.Size() > 0 && (head == nil || p.Size() > file.Size || checkHead(l, file, head) != nil) {
		head = nil // nothing usable: start over
	}
	if head == nil && p.Size() > 0 {
		if err := p.Reset(); err != nil {
			p.Close()
			return false, err
		}
	}
	if p.Size() == 0 {
		head = nil // read the headers from the source again
	}
	var have int64
	kind := EventStart
	if head != nil {
		have = int64(len(head)) + p.Size()
		kind = EventResume
		f.Stats.BytesResumed.Add(have)
	}
	f.emit(Event{Kind: kind, Weight: j.name, Layer: l.Digest, Bytes: have, Total: l.Size})

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	net, meter := f.meteredBody(cctx, j.name, l, have)
	defer net.Close()
	r := ctxio.Reader(cctx, meter)

	lh := sha256.New()
	trailer, err := func() ([]byte, error) {
		if head == nil {
			var err error
			if head, err = readHead(l, file, r); err != nil {
				return nil, err
			}
			if err := p.SetPrefix(head); err != nil {
				return nil, fmt.Errorf("layer %s: content store %s: %w", d, f.Store.Root(), err)
			}
		}
		lh.Write(head)
		if p.Size() > 0 { // the kept bytes, re-read from the local disk
			if err := hashFile(p.Path(), p.Size(), lh); err != nil {
				return nil, fmt.Errorf("layer %s: re-reading the partial download %s: %w", d, p.Path(), err)
			}
		}
		if err := copyContent(r, file.Size-p.Size(), p, lh); err != nil {
			return nil, err
		}
		n := l.Size - int64(len(head)) - file.Size
		if n < 0 || n > maxTrailer {
			return nil, &ErrUnsafe{Layer: d, Entry: file.Path, Why: fmt.Sprintf("the layer is %d bytes, which its %d bytes of headers and the file's %d bytes do not account for", l.Size, len(head), file.Size)}
		}
		t := make([]byte, n)
		if _, err := io.ReadFull(r, t); err != nil {
			return nil, err
		}
		lh.Write(t)
		return t, nil
	}()
	cancel()
	if err == nil {
		err = checkLayout(l, file, head, trailer)
	}
	if err == nil && p.Digest() != file.Digest {
		err = &ErrUnsafe{Layer: d, Entry: file.Path, Why: fmt.Sprintf("content is %s, expected %s: %v", p.Digest(), file.Digest, store.ErrDigestMismatch)}
	}
	if err == nil {
		if sum := "sha256:" + hex.EncodeToString(lh.Sum(nil)); sum != d {
			err = fmt.Errorf("layer %s: received %d bytes with digest %s, the manifest says %d bytes; the blob is corrupt or tampered with", d, l.Size, sum, l.Size)
		}
	}
	if err != nil {
		var te *transferError
		if errors.As(err, &te) || ctx.Err() != nil {
			p.Close() // keep what arrived for the next run
			kept := p.Size()
			if head != nil {
				kept += int64(len(head))
			}
			return false, fmt.Errorf("layer %s: %w (%d of %d bytes kept; run the pull again to continue)", d, err, kept, l.Size)
		}
		p.Discard()
		if errors.Is(err, syscall.ENOSPC) {
			err = fmt.Errorf("layer %s: storing %s: %w: the disk of the content store %s is full; nothing half-written is kept: free space (cog-frontend weights prune) and pull again", d, file.Path, err, f.Store.Root())
		}
		return have > 0, err
	}
	if _, _, err := p.Commit(file.Digest); err != nil {
		return false, fmt.Errorf("layer %s: storing %s: %w", d, file.Path, err)
	}
	f.Stats.LayersFetched.Add(1)
	f.emit(Event{Kind: EventDone, Weight: j.name, Layer: l.Digest, Bytes: l.Size, Total: l.Size})
	return false, nil
}

// readHead reads a one-file layer's bytes up to the file's content: none
// for a February 2026 raw layer, the tar headers otherwise, each entry
// checked as Extract checks it. It reads exactly those bytes from r.
func readHead(l Layer, file File, r io.Reader) ([]byte, error) {
	if l.MediaType == MediaTypeV0Raw {
		return []byte{}, nil
	}
	var head bytes.Buffer
	lr := &limitedTee{r: r, w: &head, n: maxHead}
	if err := scanHead(l, file, lr); err != nil {
		if lr.err != nil {
			return nil, lr.err // the stream broke, not the content
		}
		return nil, err
	}
	return head.Bytes(), nil
}

// checkHead checks saved headers as readHead checked them when they came.
func checkHead(l Layer, file File, head []byte) error {
	if l.MediaType == MediaTypeV0Raw {
		if len(head) != 0 {
			return fmt.Errorf("a raw layer has no headers")
		}
		return nil
	}
	br := bytes.NewReader(head)
	if err := scanHead(l, file, br); err != nil {
		return err
	}
	if br.Len() != 0 {
		return fmt.Errorf("%d bytes after the headers", br.Len())
	}
	return nil
}

// scanHead reads tar entries up to the header of file.
func scanHead(l Layer, file File, r io.Reader) error {
	d := l.Digest.String()
	want := map[string]File{file.Path: file}
	seen := map[string]bool{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return &ErrUnsafe{Layer: d, Entry: file.Path, Why: "listed in the config blob but missing from the layer"}
		}
		if err != nil {
			return fmt.Errorf("layer %s: reading tar: %w", d, err)
		}
		if _, ok, err := checkEntry(d, h, want, seen); err != nil || ok {
			return err
		}
	}
}

// checkLayout checks the whole one-file layer as Extract would: head, the
// file's content (not read again: the tar reader seeks past it), then
// padding and the end of the archive with no further entry.
func checkLayout(l Layer, file File, head, trailer []byte) error {
	d := l.Digest.String()
	if l.MediaType == MediaTypeV0Raw {
		if len(trailer) != 0 {
			return &ErrUnsafe{Layer: d, Entry: file.Path, Why: fmt.Sprintf("holds %d bytes, the bundle says %d", file.Size+int64(len(trailer)), file.Size)}
		}
		return nil
	}
	want := map[string]File{file.Path: file}
	seen := map[string]bool{}
	tr := tar.NewReader(&holeReader{head: head, hole: file.Size, tail: trailer})
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("layer %s: reading tar: %w", d, err)
		}
		if _, _, err := checkEntry(d, h, want, seen); err != nil {
			return err
		}
	}
	if !seen[file.Path] {
		return &ErrUnsafe{Layer: d, Entry: file.Path, Why: "listed in the config blob but missing from the layer"}
	}
	return nil
}

// holeReader reads head, then hole bytes that are not there, then tail. It
// is an io.Seeker, which archive/tar uses to skip an entry's content, so the
// hole is never read; a read inside it yields zeros.
type holeReader struct {
	head []byte
	hole int64
	tail []byte
	off  int64
}

func (h *holeReader) size() int64 { return int64(len(h.head)) + h.hole + int64(len(h.tail)) }

func (h *holeReader) Read(b []byte) (int, error) {
	hl := int64(len(h.head))
	switch {
	case h.off >= h.size():
		return 0, io.EOF
	case h.off < hl:
		n := copy(b, h.head[h.off:])
		h.off += int64(n)
		return n, nil
	case h.off < hl+h.hole:
		n := int(min(int64(len(b)), hl+h.hole-h.off))
		clear(b[:n])
		h.off += int64(n)
		return n, nil
	}
	n := copy(b, h.tail[h.off-hl-h.hole:])
	h.off += int64(n)
	return n, nil
}

func (h *holeReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += h.off
	case io.SeekEnd:
		off += h.size()
	default:
		return 0, fmt.Errorf("seek: whence %d", whence)
	}
	if off < 0 {
		return 0, fmt.Errorf("seek: negative offset %d", off)
	}
	h.off = off
	return off, nil
}

// limitedTee copies what it reads from r to w, and fails after n bytes.
type limitedTee struct {
	r   io.Reader
	w   *bytes.Buffer
	n   int64
	err error // the first error of r other than EOF
}

func (t *limitedTee) Read(b []byte) (int, error) {
	if t.n <= 0 {
		return 0, fmt.Errorf("more than %d bytes of tar headers before the file", maxHead)
	}
	if int64(len(b)) > t.n {
		b = b[:t.n]
	}
	n, err := t.r.Read(b)
	t.w.Write(b[:n])
	t.n -= int64(n)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// hashFile feeds the first n bytes of the file at path to h.
func hashFile(path string, n int64, h hash.Hash) error {
	fd, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fd.Close()
	_, err = io.CopyBuffer(h, io.LimitReader(fd, n), make([]byte, directCopyBuf))
	return err
}

// writeError is a failure to write the file (a full disk), as opposed to
// a failure to read the network.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// copyContent copies n bytes of r to w (the file's ingest: a write and the
// file hash) and to h (the layer hash), which run on goroutines of their
// own over the same buffers. Bytes read before an error of r are still
// written, so a resume keeps them.
func copyContent(r io.Reader, n int64, w io.Writer, h hash.Hash) error {
	type buf struct {
		b    []byte
		refs atomic.Int32
	}
	free := make(chan *buf, directCopyBufs)
	for range directCopyBufs {
		free <- &buf{b: make([]byte, directCopyBuf)}
	}
	release := func(x *buf) {
		if x.refs.Add(-1) == 0 {
			free <- x
		}
	}
	toFile, toHash := make(chan *buf, directCopyBufs), make(chan *buf, directCopyBufs)
	var werr atomic.Pointer[writeError]
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for x := range toFile {
			if werr.Load() == nil {
				if _, err := w.Write(x.b); err != nil {
					werr.Store(&writeError{err})
				}
			}
			release(x)
		}
	}()
	go func() {
		defer wg.Done()
		for x := range toHash {
			h.Write(x.b)
			release(x)
		}
	}()
	var rerr error
	for n > 0 && werr.Load() == nil {
		x := <-free
		m, err := io.ReadFull(r, x.b[:min(int64(cap(x.b)), n)])
		if m > 0 {
			x.b = x.b[:m]
			x.refs.Store(2)
			toFile <- x
			toHash <- x
			n -= int64(m)
		} else {
			free <- x
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			rerr = err
			break
		}
	}
	close(toFile)
	close(toHash)
	wg.Wait()
	if e := werr.Load(); e != nil {
		return e
	}
	return rerr
}
