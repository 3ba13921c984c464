package weights

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/cog-frontend/cog-frontend/config"
)

// srcFile is one file a source offers, before filtering.
type srcFile struct {
	File         // Digest is "" until known
	abs  string  // where its bytes are on local disk
	stat statKey // for the stat cache
	sc   *statCache
}

// listing is a source's files (sorted by path) and, once every digest is
// known, its fingerprint.
type listing struct {
	uri   string // normalised (lockfile form)
	files []*srcFile
	// fingerprint returns the source's version identity; for local
	// directories it is the set digest of all files, filtered or not.
	fingerprint func() string
}

// sourceDir resolves a normalised file:// URI against the project dir.
func sourceDir(projectDir, normURI string) (string, error) {
	p, ok := strings.CutPrefix(normURI, "file://")
	if !ok {
		return "", fmt.Errorf("weight source %q: only local directories (bare path or file://) are supported by this build; hf:// and https:// are not implemented yet", normURI)
	}
	if rel, ok := strings.CutPrefix(p, "./"); ok {
		return filepath.Join(projectDir, filepath.FromSlash(rel)), nil
	}
	return filepath.FromSlash(p), nil
}

// listSource lists one source: local directories are walked (stat only)
// and digests come from the stat cache where it is still valid.
func listSource(ctx context.Context, st *Store, projectDir string, src config.WeightSource) (*listing, error) {
	norm, err := config.NormalizeSourceURI(src.URI)
	if err != nil {
		return nil, err
	}
	dir, err := sourceDir(projectDir, norm)
	if err != nil {
		return nil, err
	}
	lf, err := walkSource(ctx, dir)
	if err != nil {
		return nil, err
	}
	var sc *statCache
	if st != nil {
		sc = st.statCache(dir)
	}
	l := &listing{uri: norm, files: make([]*srcFile, len(lf))}
	for i, f := range lf {
		d, _ := sc.lookup(f.Path, f.stat)
		l.files[i] = &srcFile{File: File{Path: f.Path, Size: f.stat.Size, Digest: d}, abs: f.Abs, stat: f.stat, sc: sc}
	}
	l.fingerprint = func() string {
		all := make([]File, len(l.files))
		for i, f := range l.files {
			all[i] = f.File
		}
		return SetDigest(all)
	}
	return l, nil
}

// fileOpens counts weight files opened for reading; tests use it to show
// that an unchanged re-import reads nothing.
var fileOpens atomic.Int64

func (f *srcFile) open(ctx context.Context) (io.ReadCloser, error) {
	fileOpens.Add(1)
	r, err := os.Open(f.abs)
	if err != nil {
		return nil, fmt.Errorf("weight file: %w", err)
	}
	return r, nil
}
