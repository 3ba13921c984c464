package materialize

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Status of a verified weight.
type Status string

// Statuses.
const (
	StatusOK      Status = "ok"
	StatusMissing Status = "missing" // not there, or not ready
	StatusChanged Status = "changed" // a file differs from what was delivered
)

// Check is the verdict on one weight.
type Check struct {
	Name   string `json:"name"`
	Place  string `json:"place"`
	Status Status `json:"status"`
	File   string `json:"file,omitempty"` // the first differing file
	Why    string `json:"why,omitempty"`
}

// Expected is what a place should hold: a weight's files, paths relative
// to Dir (v1) or absolute in the container under Root (v0).
type Expected struct {
	Name   string
	Dir    string // v1: the weight's directory
	Root   string // v0: files are at Root+path
	Marker string // the ready marker to find
	Files  []ReadyFile
	// SetDigest, when set, is the version wanted (e.g. from weights.lock):
	// a ready marker naming another is a change.
	SetDigest string
}

// ForWeight is what a v1 weight's place under root should hold.
func ForWeight(root, name, target, setDigest string, files []ReadyFile) Expected {
	dir := filepath.Join(root, filepath.FromSlash(target))
	return Expected{Name: name, Dir: dir, Marker: filepath.Join(dir, MarkerDir, MarkerReady), Files: files, SetDigest: setDigest}
}

// Verify recomputes the files of e and reports ok, missing, or changed
// with the first differing file (in path order: a missing or different
// listed file, then a file nobody delivered).
func Verify(e Expected) Check {
	c := Check{Name: e.Name, Place: e.Dir, Status: StatusOK}
	if e.Dir == "" {
		c.Place = e.Root
	}
	if _, err := os.Stat(e.Marker); err != nil {
		c.Status, c.Why = StatusMissing, "no ready marker ("+e.Marker+")"
		if b, err := os.ReadFile(filepath.Join(filepath.Dir(e.Marker), MarkerFailed)); err == nil {
			c.Why = "the last delivery failed: " + strings.TrimSpace(string(b))
		} else if _, err := os.Stat(filepath.Join(filepath.Dir(e.Marker), MarkerDownloading)); err == nil {
			c.Why = "a delivery is in progress (or was interrupted)"
		}
		return c
	}
	if e.SetDigest != "" {
		if r, err := ReadReady(e.Marker); err != nil || r.SetDigest != e.SetDigest {
			got := "an unreadable marker"
			if r != nil {
				got = "set digest " + r.SetDigest
			}
			c.Status, c.Why = StatusChanged, fmt.Sprintf("holds %s, want %s", got, e.SetDigest)
			return c
		}
	}
	files := append([]ReadyFile(nil), e.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for _, f := range files {
		p := filepath.Join(e.Dir, filepath.FromSlash(f.Path))
		if e.Dir == "" {
			p = filepath.Join(e.Root, filepath.FromSlash(f.Path))
		}
		if why := checkFile(p, f); why != "" {
			c.Status, c.File, c.Why = StatusChanged, f.Path, why
			return c
		}
	}
	if e.Dir != "" {
		want := map[string]bool{}
		for _, f := range files {
			want[f.Path] = true
		}
		var extra string
		_ = filepath.WalkDir(e.Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || extra != "" {
				return err
			}
			rel, _ := filepath.Rel(e.Dir, p)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if rel == MarkerDir {
					return filepath.SkipDir
				}
				return nil
			}
			if !want[rel] {
				extra = rel
			}
			return nil
		})
		if extra != "" {
			c.Status, c.File, c.Why = StatusChanged, extra, "not part of the weight"
		}
	}
	return c
}

func checkFile(p string, f ReadyFile) string {
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return "missing"
	}
	if err != nil {
		return err.Error()
	}
	if !fi.Mode().IsRegular() {
		return fmt.Sprintf("is a %s, not a regular file", fi.Mode().Type())
	}
	if fi.Size() != f.Size {
		return fmt.Sprintf("%d bytes, want %d", fi.Size(), f.Size)
	}
	fh, err := os.Open(p)
	if err != nil {
		return err.Error()
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return err.Error()
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != f.Digest {
		return fmt.Sprintf("content is %s, want %s", got, f.Digest)
	}
	return ""
}

// Delivered finds what was delivered under root from the ready markers:
// every <dir>/.cog/ready of a weight, and ROOT/.cog/bundle-v0/*/ready.
// dir may also be one weight's directory.
func Delivered(root string) ([]Expected, error) {
	var out []Expected
	add := func(marker, dir string) error {
		r, err := ReadReady(marker)
		if err != nil {
			return err
		}
		e := Expected{Name: r.Name, Marker: marker, Files: r.Files}
		if dir == "" {
			e.Root = root
		} else {
			e.Dir = dir
		}
		out = append(out, e)
		return nil
	}
	v0, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(V0MarkerDir), "*", MarkerReady))
	for _, m := range v0 {
		if err := add(m, ""); err != nil {
			return nil, err
		}
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || d.Name() != MarkerDir {
			return nil
		}
		if m := filepath.Join(p, MarkerReady); fileExists(m) {
			if err := add(m, filepath.Dir(p)); err != nil {
				return err
			}
		}
		return filepath.SkipDir
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no delivered weights under %s (no .cog/ready marker); pull with --dest first, or verify against a weights.lock", root)
	}
	return out, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Referenced collects the file digests that the weights delivered under
// roots use (from their ready markers), for a prune of the store. A root
// that no longer exists references nothing.
func Referenced(roots []string) (map[string]bool, error) {
	refs := map[string]bool{}
	for _, r := range roots {
		if _, err := os.Stat(r); err != nil {
			continue
		}
		exp, err := Delivered(r)
		if err != nil {
			if strings.HasPrefix(err.Error(), "no delivered weights") {
				continue
			}
			return nil, err
		}
		for _, e := range exp {
			for _, f := range e.Files {
				refs[f.Digest] = true
			}
		}
	}
	return refs, nil
}
