package weights

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// srcFile is one file a source offers, before filtering.
type srcFile struct {
	pack.File               // Digest is "" until known
	abs       string        // where its bytes are on local disk
	stat      store.StatKey // for the stat cache
	sc        *store.StatCache
	// fetch, for remote files, downloads the file into the store and
	// returns its path; it runs only when the bytes are needed.
	fetch func(ctx context.Context) (string, error)
}

// listing is a source's files (sorted by path) and, once every digest is
// known, its fingerprint.
type listing struct {
	uri   string // normalised (lockfile form)
	files []*srcFile
	// fingerprint returns the source's version identity; for local
	// directories it is the set digest of all files, filtered or not.
	fingerprint func() string
	// local sources fingerprint all their files, so even excluded files
	// need a digest; remote ones name a version and need none.
	local bool
}

// sourceDir resolves a normalised file:// URI against the project dir.
func sourceDir(projectDir, normURI string) (string, error) {
	p, ok := strings.CutPrefix(normURI, "file://")
	if !ok {
		return "", fmt.Errorf("weight source %q is not a local directory", normURI)
	}
	if rel, ok := strings.CutPrefix(p, "./"); ok {
		return filepath.Join(projectDir, filepath.FromSlash(rel)), nil
	}
	return filepath.FromSlash(p), nil
}

// source is one kind of weight source: it lists its files (sorted by
// path), with the digests it already knows and a way to the bytes of each.
// old is the weight's lock entry (nil when new) and idx the source's
// position in it: a remote source whose version is unchanged takes file
// digests from it instead of downloading.
type source interface {
	list(ctx context.Context, st *store.Store, old *config.LockWeight, idx int) (*listing, error)
}

// Sources by URI scheme (weights-v1 §3): a directory of the project or
// an absolute one, one file over HTTPS, a Hugging Face repository.
type (
	localSource struct {
		uri, dir   string
		projectDir string // "" for an absolute source
	}
	httpsSource struct{ uri string }
	hfSource    struct{ uri string }
)

// sourceFor picks the source of a cog.yaml weight source.
func sourceFor(projectDir string, src config.WeightSource) (source, error) {
	norm, err := config.NormalizeSourceURI(src.URI)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(norm, "https://"):
		return httpsSource{norm}, nil
	case strings.HasPrefix(norm, "hf://"):
		return hfSource{norm}, nil
	}
	dir, err := sourceDir(projectDir, norm)
	if err != nil {
		return nil, err
	}
	ls := localSource{uri: norm, dir: dir}
	if strings.HasPrefix(norm, "file://./") {
		ls.projectDir = projectDir
	}
	return ls, nil
}

// listSource lists one cog.yaml weight source.
func listSource(ctx context.Context, st *store.Store, projectDir string, src config.WeightSource, old *config.LockWeight, idx int) (*listing, error) {
	s, err := sourceFor(projectDir, src)
	if err != nil {
		return nil, err
	}
	return s.list(ctx, st, old, idx)
}

func (s httpsSource) list(ctx context.Context, st *store.Store, old *config.LockWeight, idx int) (*listing, error) {
	return listHTTPS(ctx, st, s.uri, old, idx)
}

func (s hfSource) list(ctx context.Context, st *store.Store, old *config.LockWeight, idx int) (*listing, error) {
	return listHF(ctx, st, s.uri, old, idx)
}

// list walks the directory (stat only); digests come from the stat cache
// where it is still valid. A local source fingerprints all its files,
// filtered or not, so it needs no lock entry.
func (s localSource) list(ctx context.Context, st *store.Store, _ *config.LockWeight, _ int) (*listing, error) {
	dir, err := s.resolve()
	if err != nil {
		return nil, err
	}
	lf, err := walkSource(ctx, dir)
	if err != nil {
		return nil, err
	}
	var sc *store.StatCache
	if st != nil {
		sc = st.StatCache(dir)
	}
	l := &listing{uri: s.uri, files: make([]*srcFile, len(lf)), local: true}
	for i, f := range lf {
		d, _ := sc.Lookup(f.Path, f.stat)
		l.files[i] = &srcFile{File: pack.File{Path: f.Path, Size: f.stat.Size, Digest: d}, abs: f.Abs, stat: f.stat, sc: sc}
	}
	l.fingerprint = func() string {
		all := make([]pack.File, len(l.files))
		for i, f := range l.files {
			all[i] = f.File
		}
		return pack.SetDigest(all)
	}
	return l, nil
}

// resolve follows symbolic links in the source directory's path, so a
// source directory that is itself a link is walked where it points. A
// relative source must stay inside the project: one that leaves it through
// a link would publish files the project does not hold. An absolute source
// (file:///...) may be anywhere (spec §10).
func (s localSource) resolve() (string, error) {
	real, err := filepath.EvalSymlinks(s.dir)
	if err != nil {
		if os.IsNotExist(err) {
			return s.dir, nil // walkSource says which directory is missing
		}
		return "", fmt.Errorf("weight source %s: %w", s.uri, err)
	}
	if s.projectDir == "" {
		return real, nil
	}
	proj, err := filepath.EvalSymlinks(s.projectDir)
	if err != nil {
		return "", fmt.Errorf("project directory: %w", err)
	}
	if rel, err := filepath.Rel(proj, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("weight source %s resolves through a symbolic link to %s, outside the project %s; relative sources must stay inside the project: to use that directory, write it as an absolute source in cog.yaml (uri: file://%s)", s.uri, real, proj, filepath.ToSlash(real))
	}
	return real, nil
}

// fileOpens counts weight files opened for reading; tests use it to show
// that an unchanged re-import reads nothing.
var fileOpens atomic.Int64

// openWeightFile opens a local weight file; tests wrap it to change a file
// while it is read.
var openWeightFile = func(name string) (io.ReadCloser, error) { return os.Open(name) }

// unchanged checks, after a read, that a local file is still what was
// listed: a file rewritten in place (same size, other bytes) while it was
// read yields a digest of neither version, so it must not be recorded.
// ctime catches even a rewrite that restores mtime.
func (f *srcFile) unchanged() error {
	if f.stat == (store.StatKey{}) {
		return nil // remote: the store's copy, checked against its digest
	}
	fi, err := os.Stat(f.abs)
	if err != nil {
		return fmt.Errorf("%s changed while it was being read (%v); nothing was recorded: run `cog-frontend weights import` again once nothing writes to it", f.abs, err)
	}
	if now := store.KeyOf(fi); now != f.stat {
		return fmt.Errorf("%s changed while it was being read (size %d, modified %s when listed; size %d, modified %s after the read); nothing was recorded: run `cog-frontend weights import` again once nothing writes to it",
			f.abs, f.stat.Size, time.Unix(0, f.stat.MtimeNs).UTC().Format(time.RFC3339Nano), now.Size, fi.ModTime().UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func (f *srcFile) open(ctx context.Context) (io.ReadCloser, error) {
	fileOpens.Add(1)
	if f.abs == "" && f.fetch != nil {
		p, err := f.fetch(ctx)
		if err != nil {
			return nil, err
		}
		f.abs = p
	}
	r, err := openWeightFile(f.abs)
	if err != nil {
		return nil, fmt.Errorf("weight file: %w", err)
	}
	return r, nil
}
