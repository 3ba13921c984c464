package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gofrs/flock"

	"github.com/cog-frontend/cog-frontend/internal/ctxio"
	"github.com/cog-frontend/cog-frontend/internal/nospace"
)

// Store is the local content store: blobs keyed by sha256 under
// <root>/blobs/sha256/<hex>, written containerd-style (ingest file, verify
// the digest, rename) so a half-written blob is never visible. Blobs are
// read-only files, so they can be hard-linked into a weight target.
// Several processes may share one store: commits of the same digest are
// serialised by a file lock and the rename is atomic.
type Store struct {
	root string
}

// DefaultDir is $COG_CACHE_DIR, else <user cache dir>/cog-frontend.
func DefaultDir() (string, error) {
	if d := os.Getenv("COG_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set COG_CACHE_DIR: %w", err)
	}
	return filepath.Join(d, "cog-frontend"), nil
}

// Open opens (creating if needed) the store rooted at dir.
func Open(dir string) (*Store, error) {
	for _, d := range []string{"blobs/sha256", "ingest", "locks", "statcache"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, nospace.Explain(fmt.Errorf("create content store: %w", err), dir, FullHint)
		}
	}
	s := &Store{root: dir}
	s.CleanStaleIngests()
	return s, nil
}

// CleanStaleIngests removes the ingest files of processes that ended
// without committing or aborting them (killed, crashed); ingests of running
// processes are kept, whoever they are. Every Open calls it. Pull's partial
// downloads (<root>/downloads) are not ingests and stay for a resume.
func (s *Store) CleanStaleIngests() (removed int, freed int64) {
	ents, _ := os.ReadDir(filepath.Join(s.root, "ingest"))
	for _, e := range ents {
		if n, ok := removeIfStale(filepath.Join(s.root, "ingest", e.Name())); ok {
			removed++
			freed += n
		}
	}
	return removed, freed
}

// Root is the store directory.
func (s *Store) Root() string { return s.root }

// FullHint says how to make room when the store's file system is full.
const FullHint = "cog-frontend weights prune removes blobs nothing uses; or set COG_CACHE_DIR to a bigger disk"

// Explain names the store and what to do when err is a full file system.
func (s *Store) Explain(err error) error { return nospace.Explain(err, s.root, FullHint) }

func hexOf(digest string) (string, error) {
	h, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(h) != 64 {
		return "", fmt.Errorf("invalid digest %q: want sha256:<64 hex>", digest)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("invalid digest %q: %w", digest, err)
	}
	return h, nil
}

// Path is where the blob of digest lives (whether or not it exists).
func (s *Store) Path(digest string) (string, error) {
	h, err := hexOf(digest)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.root, "blobs", "sha256", h), nil
}

// Has reports whether the blob is in the store.
func (s *Store) Has(digest string) bool {
	p, err := s.Path(digest)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// Open opens a blob for reading.
func (s *Store) Open(digest string) (*os.File, error) {
	p, err := s.Path(digest)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// ErrDigestMismatch is wrapped by a commit whose bytes are not the
// expected ones: the content is wrong, not the store.
var ErrDigestMismatch = errors.New("the content does not match its digest")

// Ingest is a blob being written. Write to it, then Commit or Abort.
type Ingest struct {
	s    *Store
	f    *os.File
	h    hash.Hash
	n    int64
	wb   writeback
	done bool
}

// NewIngest starts writing a blob. The ingest file is locked by its owner
// until Commit or Abort, so CleanStaleIngests tells it from one a killed
// process left.
func (s *Store) NewIngest() (*Ingest, error) {
	for {
		var rnd [8]byte
		_, _ = rand.Read(rnd[:])
		name := filepath.Join(s.root, "ingest", hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("content store: %w", err)
		}
		// Between create and lock a cleaner may take the unowned file and
		// remove it; then start over with another name.
		if err := lockIngest(f); err != nil || !stillAt(f, name) {
			f.Close()
			continue
		}
		return &Ingest{s: s, f: f, h: sha256.New()}, nil
	}
}

// stillAt reports whether the open file f is the file at name.
func stillAt(f *os.File, name string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(name)
	return err == nil && os.SameFile(a, b)
}

func (in *Ingest) Write(p []byte) (int, error) {
	n, err := in.f.Write(p)
	in.h.Write(p[:n])
	in.n += int64(n)
	in.wb.wrote(in.f, in.n)
	return n, err
}

// Abort discards the ingest. Safe after Commit.
func (in *Ingest) Abort() {
	if in.done {
		return
	}
	in.done = true
	in.f.Close()
	os.Remove(in.f.Name())
}

// Commit verifies the written bytes against expected ("" accepts any) and
// makes the blob visible under its digest, which it returns.
func (in *Ingest) Commit(expected string) (string, error) {
	defer in.Abort()
	got, err := in.verify(expected)
	if err != nil {
		return "", err
	}
	if err := in.f.Sync(); err != nil {
		return "", fmt.Errorf("content store: %w", err)
	}
	if err := in.seal(); err != nil {
		return "", err
	}
	return got, in.publish(got)
}

func (in *Ingest) verify(expected string) (string, error) {
	got := "sha256:" + hex.EncodeToString(in.h.Sum(nil))
	if expected != "" && got != expected {
		return "", fmt.Errorf("content store: wrote %s (%d bytes), expected %s: %w", got, in.n, expected, ErrDigestMismatch)
	}
	return got, nil
}

// seal makes the ingest read-only. The file stays open (and owner-locked)
// until it is published: closed, it would look like the ingest of a killed
// process to a cleaner in another process.
func (in *Ingest) seal() error {
	if err := in.f.Chmod(0o444); err != nil {
		return fmt.Errorf("content store: %w", err)
	}
	return nil
}

// publish makes the sealed, durable ingest the blob of got. A linked ingest
// is removed (and closed) by Abort; a renamed one is only closed.
func (in *Ingest) publish(got string) error {
	dst, _ := in.s.Path(got)
	moved, err := in.s.place(in.f.Name(), dst, got)
	if moved {
		in.done = true
		in.f.Close()
	}
	return err
}

// place gives the file at src the name dst, the blob of digest, unless a
// blob is there already (same bytes, perhaps linked into a weight target:
// it stays). A hard link does that atomically with no lock, and costs no
// lock file per blob, which for small files cost as much as the file
// itself; the caller removes src. Where links are refused, a rename under
// the digest's lock. moved reports that src is gone.
func (s *Store) place(src, dst, digest string) (moved bool, err error) {
	err = os.Link(src, dst)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	lk := flock.New(filepath.Join(s.root, "locks", strings.TrimPrefix(digest, "sha256:")+".lock"))
	if err := lk.Lock(); err != nil {
		return false, fmt.Errorf("content store lock: %w", err)
	}
	defer lk.Unlock()
	if _, err := os.Stat(dst); err == nil {
		return false, nil // another writer got there first; same bytes
	}
	if err := os.Rename(src, dst); err != nil {
		return false, fmt.Errorf("content store: %w", err)
	}
	return true, nil
}

// Put copies r into the store, verifying it against expected when given.
func (s *Store) Put(ctx context.Context, expected string, r io.Reader) (string, error) {
	if expected != "" && s.Has(expected) {
		return expected, nil
	}
	in, err := s.NewIngest()
	if err != nil {
		return "", err
	}
	defer in.Abort()
	if _, err := io.CopyBuffer(in, ctxio.Reader(ctx, r), make([]byte, copyBufSize)); err != nil {
		return "", err
	}
	return in.Commit(expected)
}

// copyBufSize is the buffer of downloads and ingests: large enough that a
// multi-GiB copy is not millions of small writes.
const copyBufSize = 1 << 20
