package weights

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// localFile is one regular file found in a local source directory.
type localFile struct {
	Path string // relative to the source root, '/'-separated
	Abs  string
	stat store.StatKey
}

// walkSource lists the regular files under root (spec §3). Directories
// named .cog are reserved and skipped. Anything that is neither a regular
// file nor a directory is an error naming it: silently dropping a symlink
// would publish a weight that differs from what the user sees.
func walkSource(ctx context.Context, root string) ([]localFile, error) {
	fi, err := os.Stat(root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("weight source directory %s does not exist", root)
		}
		return nil, fmt.Errorf("weight source: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("weight source %s is not a directory (local sources must be directories)", root)
	}
	var files []localFile
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("weight source: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		t := d.Type()
		switch {
		case t.IsDir():
			if d.Name() == ".cog" {
				return filepath.SkipDir
			}
			if err := pack.ValidatePath(rel); err != nil {
				return fmt.Errorf("weight source %s: %w", root, err)
			}
			return nil
		case t.IsRegular():
		default:
			return fmt.Errorf("%s: %s; weight sources may contain only regular files and directories: replace it with a regular file or move it out of the source", p, describeType(t))
		}
		if err := pack.ValidatePath(rel); err != nil {
			return fmt.Errorf("weight source %s: %w", root, err)
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("weight source: %w", err)
		}
		files = append(files, localFile{Path: rel, Abs: p, stat: store.KeyOf(info)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b localFile) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

func describeType(t fs.FileMode) string {
	switch {
	case t&fs.ModeSymlink != 0:
		return "is a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "is a FIFO"
	case t&fs.ModeSocket != 0:
		return "is a socket"
	case t&fs.ModeDevice != 0:
		return "is a device"
	default:
		return "is not a regular file"
	}
}

// filter applies a source's include/exclude patterns with gitignore
// semantics: exclude wins, and a non-empty include list is an allowlist.
type filter struct {
	include, exclude gitignore.Matcher
}

func newFilter(include, exclude []string) filter {
	var f filter
	if len(include) > 0 {
		f.include = gitignore.NewMatcher(parsePatterns(include))
	}
	if len(exclude) > 0 {
		f.exclude = gitignore.NewMatcher(parsePatterns(exclude))
	}
	return f
}

func parsePatterns(ps []string) []gitignore.Pattern {
	out := make([]gitignore.Pattern, len(ps))
	for i, p := range ps {
		out[i] = gitignore.ParsePattern(p, nil)
	}
	return out
}

func (f filter) keep(path string) bool {
	parts := strings.Split(path, "/")
	if f.exclude != nil && f.exclude.Match(parts, false) {
		return false
	}
	if f.include != nil {
		return f.include.Match(parts, false)
	}
	return true
}
