package main

// Where blobs were pushed before, so a push to another repository of the
// same registry can mount them instead of uploading them again. One small
// JSON file per registry under $COG_CACHE_DIR/uploads/<registry>/, written
// atomically; losing it only costs an upload.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gofrs/flock"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
)

// maxReposPerBlob bounds the record: a few candidates are enough to mount.
const maxReposPerBlob = 4

type locations struct {
	path  string
	known map[digest.Digest][]string
}

func locationsFile(cache string, reg name.Registry) string {
	r := strings.NewReplacer(":", "_", "/", "_").Replace(reg.RegistryStr())
	return filepath.Join(cache, "uploads", r, "locations.json")
}

func loadLocations(cache string, reg name.Registry) *locations {
	l := &locations{path: locationsFile(cache, reg), known: map[digest.Digest][]string{}}
	if b, err := os.ReadFile(l.path); err == nil {
		_ = json.Unmarshal(b, &l.known)
	}
	return l
}

func (l *locations) mountFrom(d digest.Digest) []string { return l.known[d] }

// record adds repo as a home of every blob of b and saves, under a file
// lock so concurrent pushes do not drop each other's entries.
func (l *locations) record(repo string, blobs []digest.Digest) {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return
	}
	lk := flock.New(l.path + ".lock")
	if err := lk.Lock(); err != nil {
		return
	}
	defer lk.Unlock()
	cur := loadLocationsFrom(l.path)
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
		return
	}
	_ = atomicfile.WriteFile(l.path, raw, 0o644) // a hint file: losing an update only costs a mount attempt
}

func loadLocationsFrom(path string) map[digest.Digest][]string {
	m := map[digest.Digest][]string{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}
