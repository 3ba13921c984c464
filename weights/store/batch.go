package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cog-frontend/cog-frontend/internal/ctxio"
)

// writebackEvery is how many bytes a large write leaves dirty before it
// asks the kernel to start writing them: the disk then works while the
// download goes on, and the fsync before the blob becomes visible waits
// for the last few MiB, not the whole file.
const writebackEvery = 8 << 20

// writeback starts the kernel writing a file's bytes behind its writer.
type writeback struct{ done int64 }

func (w *writeback) wrote(f *os.File, n int64) {
	if n-w.done >= writebackEvery {
		startWriteback(f, w.done, n-w.done)
		w.done = n
	}
}

// Batch stores many files (the small files of one layer) with one sync
// for all of them instead of an fsync per file: Put verifies and stages
// each, Commit makes them durable together and then visible. Nothing Put
// stores is visible before Commit.
type Batch struct {
	s      *Store
	root   *os.File // syncfs's handle; opened first, so it sees every writeback error after it
	staged []*Ingest
	sums   []string
	buf    []byte // one copy buffer for all the batch's files
}

// NewBatch starts a batch. Commit or Abort it.
func (s *Store) NewBatch() (*Batch, error) {
	root, err := os.Open(filepath.Join(s.root, "ingest"))
	if err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	return &Batch{s: s, root: root}, nil
}

// Has reports whether the blob is in the store (staged files are not).
func (b *Batch) Has(digest string) bool { return b.s.Has(digest) }

// Put copies r into an ingest of the batch, verifying it against expected.
func (b *Batch) Put(ctx context.Context, expected string, r io.Reader) (string, error) {
	in, err := b.s.NewIngest()
	if err != nil {
		return "", err
	}
	if b.buf == nil {
		b.buf = make([]byte, copyBufSize)
	}
	if _, err := io.CopyBuffer(in, ctxio.Reader(ctx, r), b.buf); err != nil {
		in.Abort()
		return "", err
	}
	got, err := in.verify(expected)
	if err == nil {
		startWriteback(in.f, in.wb.done, in.n-in.wb.done)
		err = in.seal()
	}
	if err != nil {
		in.Abort()
		return "", err
	}
	b.staged = append(b.staged, in)
	b.sums = append(b.sums, got)
	return got, nil
}

// Commit makes every staged file durable (one syncfs where the system has
// it, an fsync of each elsewhere), then visible.
func (b *Batch) Commit() error {
	defer b.Abort()
	if len(b.staged) == 0 {
		return nil
	}
	if err := syncAll(b.root, b.staged); err != nil {
		return fmt.Errorf("content store %s: sync: %w", b.s.root, err)
	}
	for i, in := range b.staged {
		if err := in.publish(b.sums[i]); err != nil {
			return err
		}
	}
	return nil
}

// Abort discards what was not committed. Safe after Commit.
func (b *Batch) Abort() {
	for _, in := range b.staged {
		in.Abort()
	}
	b.staged, b.sums = nil, nil
	if b.root != nil {
		b.root.Close()
		b.root = nil
	}
}
