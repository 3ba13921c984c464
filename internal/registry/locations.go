package registry

// Where blobs were pushed before, so a push to another repository of the
// same registry can mount them instead of uploading them again. One small
// JSON file per registry under <dir>/uploads/<registry>/, written
// atomically under a file lock; losing it only costs an upload.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"

	"github.com/gofrs/flock"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
)

// maxReposPerBlob bounds the record: a few candidates are enough to mount.
const maxReposPerBlob = 4

// Locations is the record of one registry's blobs and the repositories that
// hold them, as loaded when a push starts.
type Locations struct {
	path  string
	known map[digest.Digest][]string
}

// LoadLocations reads the record of reg kept under dir; a missing or
// unreadable record is empty.
func LoadLocations(dir string, reg name.Registry) *Locations {
	p := filepath.Join(dir, "uploads", registryDir(reg.RegistryStr()), "locations.json")
	return &Locations{path: p, known: readLocations(p)}
}

// MountFrom lists repositories known to hold d, most recent first.
func (l *Locations) MountFrom(d digest.Digest) []string { return l.known[d] }

// Record adds repo as a home of every blob in blobs and saves, merging with
// what concurrent pushes wrote meanwhile.
func (l *Locations) Record(repo string, blobs []digest.Digest) error {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return err
	}
	lk := flock.New(l.path + ".lock")
	if err := lk.Lock(); err != nil {
		return err
	}
	defer lk.Unlock()
	cur := readLocations(l.path)
	for _, d := range blobs {
		rs := cur[d]
		if slices.Contains(rs, repo) {
			continue
		}
		rs = append([]string{repo}, rs...)
		if len(rs) > maxReposPerBlob {
			rs = rs[:maxReposPerBlob]
		}
		cur[d] = rs
	}
	raw, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	l.known = cur
	return atomicfile.WriteFile(l.path, raw, 0o644)
}

func readLocations(path string) map[digest.Digest][]string {
	m := map[digest.Digest][]string{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}
