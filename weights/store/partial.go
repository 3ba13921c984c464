package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// Partial is a resumable ingest: a blob whose bytes arrive over several
// attempts, possibly across process restarts. It lives under
// <root>/downloads, named by the caller's ref (a URL, a layer digest), and
// is never visible as a blob before Commit checks its digest.
type Partial struct {
	s        *Store
	f        *os.File
	h        hash.Hash
	n        int64
	wb       writeback
	metaPath string
	meta     partialMeta
}

type partialMeta struct {
	ETag   string
	Prefix []byte `json:",omitempty"`
}

// Resume opens the partial ingest named ref, creating it if needed, and
// hashes what an earlier attempt left in it (local bytes, not network
// ones), so the caller can continue from Size.
func (s *Store) Resume(ref string) (*Partial, error) {
	key := sha256.Sum256([]byte(ref))
	dir := filepath.Join(s.root, "downloads")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	part := filepath.Join(dir, hex.EncodeToString(key[:16])+".partial")
	p := &Partial{s: s, h: sha256.New(), metaPath: part + ".json"}
	if b, err := os.ReadFile(p.metaPath); err == nil {
		_ = json.Unmarshal(b, &p.meta) // a corrupt record only costs the resume
	}
	f, err := os.OpenFile(part, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if p.n, err = io.CopyBuffer(p.h, f, make([]byte, copyBufSize)); err != nil {
		f.Close()
		return nil, err
	}
	p.f = f
	p.wb.done = p.n
	return p, nil
}

// Size is how many bytes the partial holds.
func (p *Partial) Size() int64 { return p.n }

// ETag is the validator saved with the partial ("" if none): a resumed
// request must name the same version of the content.
func (p *Partial) ETag() string { return p.meta.ETag }

// SetETag saves the validator of the content being written.
func (p *Partial) SetETag(etag string) {
	p.meta.ETag = etag
	mb, _ := json.Marshal(p.meta)
	_ = os.WriteFile(p.metaPath, mb, 0o644) // best effort: without it the next run starts over
}

// Prefix is the bytes saved with SetPrefix (nil if none).
func (p *Partial) Prefix() []byte { return p.meta.Prefix }

// SetPrefix saves, beside the partial, bytes of its source that precede
// the content it holds: a caller that stores only part of a stream (the
// file inside a tar layer) needs them to resume the rest.
func (p *Partial) SetPrefix(b []byte) error {
	p.meta.Prefix = b
	mb, _ := json.Marshal(p.meta)
	return os.WriteFile(p.metaPath, mb, 0o644)
}

// Reset empties the partial, for content sent again from its start.
func (p *Partial) Reset() error {
	if err := p.f.Truncate(0); err != nil {
		return err
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	p.h.Reset()
	p.n = 0
	p.wb.done = 0
	return nil
}

func (p *Partial) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	p.h.Write(b[:n])
	p.n += int64(n)
	p.wb.wrote(p.f, p.n)
	return n, err
}

// Close keeps the partial for a later Resume.
func (p *Partial) Close() error { return p.f.Close() }

// Commit checks the bytes against expected ("" accepts any) and makes them
// the blob of their digest; it returns the digest and the blob's path. On a
// mismatch the partial is discarded: its source changed.
func (p *Partial) Commit(expected string) (string, string, error) {
	defer p.f.Close()
	got := "sha256:" + hex.EncodeToString(p.h.Sum(nil))
	part := p.f.Name()
	if expected != "" && got != expected {
		os.Remove(part)
		os.Remove(p.metaPath)
		return "", "", fmt.Errorf("content is %s, expected %s", got, expected)
	}
	if err := p.f.Sync(); err != nil {
		return "", "", err
	}
	if err := p.f.Chmod(0o444); err != nil {
		return "", "", err
	}
	dst, _ := p.s.Path(got)
	moved, err := p.s.place(part, dst, got)
	if !moved {
		os.Remove(part)
	}
	if err != nil {
		return "", "", err
	}
	os.Remove(p.metaPath)
	return got, dst, nil
}

// Path is the partial's file, for re-reading the bytes it holds.
func (p *Partial) Path() string { return p.f.Name() }

// Digest is the digest of the bytes written so far.
func (p *Partial) Digest() string { return "sha256:" + hex.EncodeToString(p.h.Sum(nil)) }

// Discard deletes the partial: its bytes were used (their content is in
// the store in another form) or are no good.
func (p *Partial) Discard() {
	p.f.Close()
	os.Remove(p.f.Name())
	os.Remove(p.metaPath)
}
