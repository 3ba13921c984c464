package materialize

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/sys/unix"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
	"github.com/cog-frontend/cog-frontend/weights/pull"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// Marker file names, in <target>/.cog/ (v1) or ROOT/.cog/bundle-v0/<hex>/
// (February 2026 bundles, keyed by the weights manifest digest).
const (
	MarkerDir         = ".cog"
	MarkerDownloading = "downloading"
	MarkerReady       = "ready"
	MarkerFailed      = "failed"
	// V0MarkerDir is where the markers of a February 2026 bundle live,
	// relative to ROOT: its files have no common target.
	V0MarkerDir = ".cog/bundle-v0"
)

// Ready is the content of a ready marker: what was delivered, so that
// `weights verify` and `weights prune` need nothing else.
type Ready struct {
	Name      string      `json:"name"`
	Format    string      `json:"format"`
	Target    string      `json:"target,omitempty"`
	SetDigest string      `json:"setDigest,omitempty"`
	Manifest  string      `json:"manifest"`
	Files     []ReadyFile `json:"files"`
}

// ReadyFile is one delivered file (path relative to the target; absolute
// in the container for v0).
type ReadyFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Digest string `json:"digest"`
}

// Placer materializes weights under Root from Store.
type Placer struct {
	Store *store.Store
	Root  string
	// Notify, if set, is told once that files are copied because the store
	// and Root are on different file systems (or mounts).
	Notify func(string)
	once   sync.Once
	linkFn func(oldname, newname string) error // os.Link; tests fake EXDEV
}

// Dir is the directory of a v1 weight, or ROOT for a v0 bundle.
func (p *Placer) Dir(w pull.Weight) string {
	if w.Format == pull.FormatV0 {
		return p.Root
	}
	return filepath.Join(p.Root, filepath.FromSlash(w.Target))
}

// Markers is the directory holding w's markers.
func (p *Placer) Markers(w pull.Weight) string {
	if w.Format == pull.FormatV0 {
		return filepath.Join(p.Root, filepath.FromSlash(V0MarkerDir), w.Manifest.Encoded())
	}
	return filepath.Join(p.Dir(w), MarkerDir)
}

// IsReady reports whether w is already in place: its ready marker names
// the same set digest (v1) or manifest (v0).
func (p *Placer) IsReady(w pull.Weight) bool {
	r, err := ReadReady(filepath.Join(p.Markers(w), MarkerReady))
	if err != nil {
		return false
	}
	if w.Format == pull.FormatV0 {
		return r.Manifest == w.Manifest.String()
	}
	return r.SetDigest == w.SetDigest
}

// ReadReady reads a ready marker.
func ReadReady(path string) (*Ready, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Ready
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not a ready marker of this tool: %w", path, err)
	}
	return &r, nil
}

// Lock serialises deliveries to w's place between processes; the returned
// function unlocks.
func (p *Placer) Lock(ctx context.Context, w pull.Weight) (func(), error) {
	dir := filepath.Join(p.Root, MarkerDir, "locks")
	if err := p.mkdirAll(dir); err != nil {
		return nil, err
	}
	key := w.Manifest.Encoded()
	if w.Format == pull.FormatV1 {
		key = strings.ReplaceAll(strings.Trim(w.Target, "/"), "/", "_")
	}
	lk := flock.New(filepath.Join(dir, key+".lock"))
	if _, err := lk.TryLockContext(ctx, 100*time.Millisecond); err != nil {
		return nil, fmt.Errorf("lock %s: %w", lk.Path(), err)
	}
	return func() { _ = lk.Unlock() }, nil
}

// Begin writes the downloading marker (creating the place if needed) and
// removes a failed one. A ready marker of an older version stays: its
// files stay whole until the new version is swapped in.
func (p *Placer) Begin(w pull.Weight) error {
	if err := p.checkPlace(w); err != nil {
		return err
	}
	m := p.Markers(w)
	if err := p.mkdirAll(m); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(m, MarkerDownloading), []byte(w.Manifest.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("%s: write marker: %w", m, err)
	}
	_ = os.Remove(filepath.Join(m, MarkerFailed))
	if w.Format == pull.FormatV0 {
		p.retireV0(w)
	}
	return nil
}

// retireV0 removes the ready markers of other February 2026 deliveries
// that share a file with w: their files are about to be replaced one by
// one, so they are no longer whole.
func (p *Placer) retireV0(w pull.Weight) {
	mine := map[string]bool{}
	for _, f := range w.Files {
		mine[f.Path] = true
	}
	others, _ := filepath.Glob(filepath.Join(p.Root, filepath.FromSlash(V0MarkerDir), "*", MarkerReady))
	for _, m := range others {
		if filepath.Dir(m) == p.Markers(w) {
			continue
		}
		r, err := ReadReady(m)
		if err != nil {
			continue
		}
		for _, f := range r.Files {
			if mine[f.Path] {
				_ = os.Remove(m)
				break
			}
		}
	}
}

// Fail records err in the failed marker and removes the ready and
// downloading markers: a runtime must not start on this place. Files of an
// older version are left as they were, and no file of the failed version
// is in the place.
func (p *Placer) Fail(w pull.Weight, cause error) error {
	if err := p.checkPlace(w); err != nil {
		return err
	}
	m := p.Markers(w)
	if err := p.mkdirAll(m); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(m, MarkerReady))
	if err := atomicfile.WriteFile(filepath.Join(m, MarkerFailed), []byte(cause.Error()+"\n"), 0o644); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(m, MarkerDownloading))
	return nil
}

// Place puts w's files (all in the store) at their place and writes the
// ready marker, last.
func (p *Placer) Place(ctx context.Context, w pull.Weight) error {
	if err := p.checkPlace(w); err != nil {
		return err
	}
	for _, f := range w.Files {
		if !p.Store.Has(f.Digest) {
			return fmt.Errorf("%s: file %s (%s) is not in the content store %s", w, f.Path, f.Digest, p.Store.Root())
		}
	}
	if w.Format == pull.FormatV0 {
		return p.placeV0(ctx, w)
	}
	return p.placeV1(ctx, w)
}

func readyOf(w pull.Weight) Ready {
	r := Ready{Name: w.Name, Format: w.Format, Target: w.Target, SetDigest: w.SetDigest, Manifest: w.Manifest.String(), Files: []ReadyFile{}}
	for _, f := range w.Files {
		r.Files = append(r.Files, ReadyFile{Path: f.Path, Size: f.Size, Digest: f.Digest})
	}
	return r
}

func writeReady(dir string, w pull.Weight) error {
	b, err := json.MarshalIndent(readyOf(w), "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, MarkerReady), append(b, '\n'), 0o644)
}

const newSuffix = ".cog-new-"

func (p *Placer) placeV1(ctx context.Context, w pull.Weight) error {
	dir := p.Dir(w)
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	if err := p.mkdirAll(parent); err != nil {
		return err
	}
	// Left over by a killed run (we hold the place's lock).
	if old, _ := filepath.Glob(filepath.Join(parent, "."+base+newSuffix+"*")); len(old) > 0 {
		for _, o := range old {
			_ = os.RemoveAll(o)
		}
	}
	tmp, err := os.MkdirTemp(parent, "."+base+newSuffix)
	if err != nil {
		return fmt.Errorf("%s: %w", parent, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(tmp)
		}
	}()
	for _, f := range w.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := p.link(f.Digest, dst); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(tmp, MarkerDir), 0o755); err != nil {
		return err
	}
	if err := writeReady(filepath.Join(tmp, MarkerDir), w); err != nil {
		return err
	}
	if err := swap(tmp, dir); err != nil {
		return fmt.Errorf("%s: swap in the new version: %w", dir, err)
	}
	ok = true
	return os.RemoveAll(tmp) // now the old version
}

// swap makes tmp appear at dir in one step. With dir present, the two are
// exchanged (renameat2 RENAME_EXCHANGE) and tmp then holds the old tree;
// where the kernel or file system cannot exchange, dir is moved aside
// first, so a reader may briefly find nothing, but never a mix.
func swap(tmp, dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return os.Rename(tmp, dir)
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.ENOTSUP) {
		return err
	}
	aside := tmp + ".old"
	if err := os.Rename(dir, aside); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.Rename(aside, dir)
		return err
	}
	return os.Rename(aside, tmp)
}

func (p *Placer) placeV0(ctx context.Context, w pull.Weight) error {
	for _, f := range w.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		dst := filepath.Join(p.Root, filepath.FromSlash(f.Path))
		if err := p.mkdirAll(filepath.Dir(dst)); err != nil {
			return err
		}
		if fi, err := os.Lstat(dst); err == nil && fi.Mode().IsRegular() {
			if sp, _ := p.Store.Path(f.Digest); sameFile(sp, fi) {
				continue
			}
		}
		tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+newSuffix+w.Manifest.Encoded()[:12])
		_ = os.Remove(tmp)
		if err := p.link(f.Digest, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, dst); err != nil {
			_ = os.Remove(tmp)
			return err
		}
	}
	return writeReady(p.Markers(w), w)
}

func sameFile(path string, fi os.FileInfo) bool {
	sf, err := os.Stat(path)
	return err == nil && os.SameFile(sf, fi)
}

// link makes dst a hard link to the store's blob of digest, or a copy where
// the kernel refuses the link (EXDEV: another file system or mount).
func (p *Placer) link(digest, dst string) error {
	src, err := p.Store.Path(digest)
	if err != nil {
		return err
	}
	link := p.linkFn
	if link == nil {
		link = os.Link
	}
	err = link(src, dst)
	if err == nil {
		p.Store.Touch(digest)
		return nil
	}
	if !errors.Is(err, syscall.EXDEV) && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EMLINK) {
		return fmt.Errorf("link %s to %s: %w", src, dst, err)
	}
	p.once.Do(func() {
		if p.Notify != nil {
			p.Notify(fmt.Sprintf("copying files instead of hard-linking them: %s and %s cannot share files (%v); put the content store (COG_CACHE_DIR) on the same file system to save the space and time", p.Store.Root(), p.Root, errors.Unwrap(err)))
		}
	})
	p.Store.Touch(digest)
	return copyFile(src, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o444)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		os.Remove(dst)
		return err
	}
	return nil
}

// checkPlace refuses a place reached through a symlink under Root: nothing
// is written outside Root.
func (p *Placer) checkPlace(w pull.Weight) error {
	paths := []string{p.Dir(w)}
	if w.Format == pull.FormatV0 {
		paths = paths[:0]
		for _, f := range w.Files {
			paths = append(paths, filepath.Join(p.Root, filepath.FromSlash(f.Path)))
		}
	}
	for _, t := range paths {
		rel, err := filepath.Rel(p.Root, t)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fmt.Errorf("%s is outside the destination %s", t, p.Root)
		}
		cur := p.Root
		for _, c := range strings.Split(rel, string(filepath.Separator)) {
			cur = filepath.Join(cur, c)
			fi, err := os.Lstat(cur)
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if err != nil {
				return err
			}
			if fi.Mode()&os.ModeSymlink != 0 {
				return fmt.Errorf("%s is a symlink; refusing to write through it (nothing is written outside the destination %s)", cur, p.Root)
			}
		}
	}
	return nil
}

func (p *Placer) mkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}
