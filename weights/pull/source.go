package pull

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/cog-frontend/cog-frontend/internal/registry"
)

// Source serves a bundle's manifests and blobs.
type Source interface {
	// Manifest returns the bytes and media type of a manifest or index,
	// by tag or digest.
	Manifest(ctx context.Context, ref string) ([]byte, string, error)
	// Blob streams length bytes of d from offset (length < 0: to the end)
	// and returns the offset its body starts at (0 when the source ignored
	// the range). The caller verifies the digest.
	Blob(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, int64, error)
	// Retry runs f under the source's retry budget: f reports whether it
	// made progress, and a retryable error is tried again.
	Retry(ctx context.Context, what string, f func() (bool, error)) error
	// Remote reports whether the source is across a network, where
	// parallel range requests pay off.
	Remote() bool
}

// RegistrySource is a repository seen through the one registry client,
// so pulls share its transport, credentials, retry budget and backoff with
// push.
type RegistrySource struct {
	Client *registry.Client
	Repo   *registry.Repo
}

// Manifest implements Source.
func (s RegistrySource) Manifest(ctx context.Context, ref string) ([]byte, string, error) {
	return s.Repo.GetManifest(ctx, ref, "")
}

// Blob implements Source.
func (s RegistrySource) Blob(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, int64, error) {
	return s.Repo.GetBlobRange(ctx, d, offset, length)
}

// Retry implements Source.
func (s RegistrySource) Retry(ctx context.Context, what string, f func() (bool, error)) error {
	return s.Client.Retry(ctx, what, f)
}

// Remote implements Source.
func (s RegistrySource) Remote() bool { return true }

// LayoutSource is an OCI image-layout directory. Manifests are found by
// digest only; the caller resolves tags through index.json.
type LayoutSource struct{ Dir string }

func (s LayoutSource) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, err)
	}
	return filepath.Join(s.Dir, "blobs", d.Algorithm().String(), d.Encoded()), nil
}

// Manifest implements Source; ref must be a digest.
func (s LayoutSource) Manifest(_ context.Context, ref string) ([]byte, string, error) {
	p, err := s.path(digest.Digest(ref))
	if err != nil {
		return nil, "", fmt.Errorf("OCI layout %s: manifests are read by digest: %w", s.Dir, err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, "", fmt.Errorf("OCI layout %s lacks %s: %w", s.Dir, ref, err)
	}
	return b, sniffMediaType(b), nil
}

// Blob implements Source.
func (s LayoutSource) Blob(_ context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, int64, error) {
	p, err := s.path(d)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, fmt.Errorf("OCI layout %s lacks blob %s: %w", s.Dir, d, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	if length < 0 {
		return f, offset, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, length), f}, offset, nil
}

// Retry implements Source: a local file is not retried.
func (LayoutSource) Retry(_ context.Context, what string, f func() (bool, error)) error {
	if _, err := f(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Remote implements Source.
func (LayoutSource) Remote() bool { return false }
