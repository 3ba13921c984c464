package store

// The node store's lifecycle: which blobs are in use, when each was last
// used, and pruning what nothing references, least recently used first
// under a size cap. Pulls hold the store's use lock (shared); a prune holds
// it exclusively, so it never removes a blob a running pull just stored
// and is about to link.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
)

// BlobInfo describes one blob of the store.
type BlobInfo struct {
	Digest string
	Size   int64
	Links  uint64    // hard links: more than 1 means a target uses it
	Used   time.Time // last use (Touch), else its last access
}

// Blobs lists the store's blobs.
func (s *Store) Blobs() ([]BlobInfo, error) {
	dir := filepath.Join(s.root, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("content store %s: %w", s.root, err)
	}
	out := make([]BlobInfo, 0, len(ents))
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		links, used := usage(fi)
		out = append(out, BlobInfo{Digest: "sha256:" + e.Name(), Size: fi.Size(), Links: links, Used: used})
	}
	return out, nil
}

// Touch records that digest was used now (for the least-recently-used
// order of Prune). Best effort.
func (s *Store) Touch(digest string) {
	p, err := s.Path(digest)
	if err != nil {
		return
	}
	if fi, err := os.Stat(p); err == nil {
		_ = os.Chtimes(p, time.Now(), fi.ModTime())
	}
}

// Remove deletes a blob.
func (s *Store) Remove(digest string) error {
	p, err := s.Path(digest)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func (s *Store) gcLock() *flock.Flock { return flock.New(filepath.Join(s.root, "locks", "gc.lock")) }

// UseLock is held (shared) by whoever adds blobs that are not yet
// referenced, e.g. a pull between storing a file and linking it. The
// returned function releases it.
func (s *Store) UseLock(ctx context.Context) (func(), error) {
	lk := s.gcLock()
	if _, err := lk.TryRLockContext(ctx, 100*time.Millisecond); err != nil {
		return nil, fmt.Errorf("content store %s: %w", s.root, err)
	}
	return func() { _ = lk.Unlock() }, nil
}

// PruneLock is held (exclusive) by a prune: it waits for running pulls.
func (s *Store) PruneLock(ctx context.Context) (func(), error) {
	lk := s.gcLock()
	if _, err := lk.TryLockContext(ctx, 100*time.Millisecond); err != nil {
		return nil, fmt.Errorf("content store %s: waiting for running pulls: %w", s.root, err)
	}
	return func() { _ = lk.Unlock() }, nil
}

// PlanPrune chooses what to remove (pure): every blob that nothing
// references (not in referenced, and not hard-linked into a target) when
// maxSize < 0; under a cap, unreferenced blobs least recently used first
// until the store's total is at most maxSize. Referenced blobs are never
// chosen, so a cap below them cannot be met; over reports by how much.
func PlanPrune(blobs []BlobInfo, referenced map[string]bool, maxSize int64) (remove []BlobInfo, over int64) {
	var total int64
	var cand []BlobInfo
	for _, b := range blobs {
		total += b.Size
		if referenced[b.Digest] || b.Links > 1 {
			continue
		}
		cand = append(cand, b)
	}
	slices.SortStableFunc(cand, func(a, b BlobInfo) int {
		if c := a.Used.Compare(b.Used); c != 0 {
			return c
		}
		return strings.Compare(a.Digest, b.Digest)
	})
	for _, b := range cand {
		if maxSize >= 0 && total <= maxSize {
			break
		}
		remove = append(remove, b)
		total -= b.Size
	}
	if maxSize >= 0 && total > maxSize {
		over = total - maxSize
	}
	return remove, over
}

// CleanIngests removes ingest files left by killed processes (those of
// running imports and pulls are kept: see CleanStaleIngests); call it
// under PruneLock (no pull running). Partial downloads older than maxAge
// go too; younger ones are kept for a resume.
func (s *Store) CleanIngests(maxAge time.Duration) (int64, error) {
	_, freed := s.CleanStaleIngests()
	dents, _ := os.ReadDir(filepath.Join(s.root, "downloads"))
	for _, e := range dents {
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < maxAge {
			continue
		}
		freed += fi.Size()
		_ = os.Remove(filepath.Join(s.root, "downloads", e.Name()))
	}
	return freed, nil
}

// rootsFile lists the destinations pulls materialized into, so a prune
// can find copies (which have no extra hard link) through their markers.
func (s *Store) rootsFile() string { return filepath.Join(s.root, "roots") }

// AddRoot records a destination root.
func (s *Store) AddRoot(root string) error {
	lk := flock.New(filepath.Join(s.root, "locks", "roots.lock"))
	if err := lk.Lock(); err != nil {
		return err
	}
	defer lk.Unlock()
	roots := s.Roots()
	if slices.Contains(roots, root) {
		return nil
	}
	roots = append(roots, root)
	return atomicfile.WriteFile(s.rootsFile(), []byte(strings.Join(roots, "\n")+"\n"), 0o644)
}

// Roots are the recorded destination roots that still exist.
func (s *Store) Roots() []string {
	f, err := os.Open(s.rootsFile())
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if r := strings.TrimSpace(sc.Text()); r != "" {
			if _, err := os.Stat(r); err == nil {
				out = append(out, r)
			}
		}
	}
	return out
}
