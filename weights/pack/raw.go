package pack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// RawLayer serves the exact bytes of an uncompressed layer straight from its
// files: the tar framing (headers, padding, end blocks) is built in memory
// and the file bytes are read from the open files at their offsets. Unlike
// WriteLayer it hashes nothing and copies nothing through a pipe, and it
// seeks, so a resumed upload starts at its offset without re-reading the
// bytes before it. Whoever uses it must check the result another way: a
// registry checks the digest of an upload at its commit.
type RawLayer struct {
	segs  []segment
	files []*os.File
	size  int64
	off   int64
}

// segment is a run of the layer: framing bytes, or n bytes of a file.
type segment struct {
	start int64
	data  []byte
	f     *os.File
	n     int64
}

func (s segment) len() int64 {
	if s.f != nil {
		return s.n
	}
	return int64(len(s.data))
}

// ErrNotRaw says a plan cannot be served by OpenRawLayer (gzip'd, or a file
// that is not a local file); the caller falls back to WriteLayer.
var ErrNotRaw = errors.New("layer cannot be served from its files as they are")

// OpenRawLayer opens every file of lp (through open, which must give
// *os.File) and lays out the layer WriteLayer would write. Each file's size
// is checked against the plan, so a file that grew or shrank since it was
// listed is an error now rather than a wrong layer later.
func OpenRawLayer(ctx context.Context, lp LayerPlan, open OpenFunc) (*RawLayer, error) {
	if lp.Gzip() {
		return nil, ErrNotRaw
	}
	rl := &RawLayer{}
	var frame bytes.Buffer
	flush := func() {
		if frame.Len() > 0 {
			rl.add(segment{data: bytes.Clone(frame.Bytes())})
			frame.Reset()
		}
	}
	// header appends the header blocks tar.Writer writes for h: it writes a
	// header to its writer at once, so a fresh writer per header, never
	// closed, gives exactly those bytes.
	header := func(h *tar.Header) error {
		return tar.NewWriter(&frame).WriteHeader(h)
	}
	for _, d := range layerDirs(lp.Files) {
		if err := header(&tar.Header{
			Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755,
			ModTime: epoch, AccessTime: epoch, ChangeTime: epoch, Format: tar.FormatPAX,
		}); err != nil {
			return nil, fmt.Errorf("write tar header for %s/: %w", d, err)
		}
	}
	for _, f := range lp.Files {
		if err := ctx.Err(); err != nil {
			rl.Close()
			return nil, err
		}
		if err := header(&tar.Header{
			Typeflag: tar.TypeReg, Name: f.Path, Size: f.Size, Mode: 0o644,
			ModTime: epoch, AccessTime: epoch, ChangeTime: epoch, Format: tar.FormatPAX,
		}); err != nil {
			rl.Close()
			return nil, fmt.Errorf("write tar header for %s: %w", f.Path, err)
		}
		r, err := open(ctx, f)
		if err != nil {
			rl.Close()
			return nil, err
		}
		file, ok := r.(*os.File)
		if !ok {
			r.Close()
			rl.Close()
			return nil, ErrNotRaw
		}
		rl.files = append(rl.files, file)
		st, err := file.Stat()
		if err != nil {
			rl.Close()
			return nil, fmt.Errorf("stat %s: %w", f.Path, err)
		}
		if st.Size() != f.Size {
			rl.Close()
			return nil, fmt.Errorf("%s: file is %d bytes, it had %d when listed: it changed since it was recorded; run `cog-frontend weights import`", f.Path, st.Size(), f.Size)
		}
		flush()
		if f.Size > 0 {
			rl.add(segment{f: file, n: f.Size})
		}
		if pad := (blockSize - f.Size%blockSize) % blockSize; pad > 0 {
			frame.Write(make([]byte, pad))
		}
	}
	frame.Write(make([]byte, 2*blockSize)) // tar.Writer.Close: two zero blocks
	flush()
	return rl, nil
}

const blockSize = 512

func (rl *RawLayer) add(s segment) {
	s.start = rl.size
	rl.segs = append(rl.segs, s)
	rl.size += s.len()
}

// Size is the layer's length in bytes.
func (rl *RawLayer) Size() int64 { return rl.size }

// Read reads from the current offset; a file read short of the size it had
// at open (truncated since) is io.ErrUnexpectedEOF.
func (rl *RawLayer) Read(b []byte) (int, error) {
	if rl.off >= rl.size {
		return 0, io.EOF
	}
	i := sort.Search(len(rl.segs), func(i int) bool { return rl.segs[i].start+rl.segs[i].len() > rl.off })
	s := rl.segs[i]
	rel := rl.off - s.start
	want := min(int64(len(b)), s.len()-rel)
	var n int
	var err error
	if s.f == nil {
		n = copy(b, s.data[rel:rel+want])
	} else {
		n, err = s.f.ReadAt(b[:want], rel)
		if err == io.EOF {
			if n < int(want) {
				err = fmt.Errorf("%s: file is shorter than when it was listed: it changed while being read; run `cog-frontend weights import`: %w", s.f.Name(), io.ErrUnexpectedEOF)
			} else {
				err = nil
			}
		}
	}
	rl.off += int64(n)
	return n, err
}

// Seek implements io.Seeker.
func (rl *RawLayer) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += rl.off
	case io.SeekEnd:
		offset += rl.size
	}
	if offset < 0 {
		return rl.off, fmt.Errorf("seek to %d: negative offset", offset)
	}
	rl.off = offset
	return offset, nil
}

// Close closes the files.
func (rl *RawLayer) Close() error {
	var errs []error
	for _, f := range rl.files {
		errs = append(errs, f.Close())
	}
	rl.files = nil
	return errors.Join(errs...)
}
