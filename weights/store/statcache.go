package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
)

// StatKey is what must be unchanged for a cached file digest to be trusted.
type StatKey struct {
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime"`
	CtimeNs int64  `json:"ctime"`
}

type statEntry struct {
	StatKey
	Digest string `json:"digest"`
}

// racyWindow: a file modified this shortly before it was hashed could be
// modified again within the same timestamp tick without its stat changing
// (git's "racy clean" problem), so its digest is not cached.
const racyWindow = time.Second

// StatCache maps the files of one source directory to their digests, so a
// re-import with nothing changed reads no file contents. One JSON file per
// source directory under <store>/statcache; entries are only hints, checked
// against a fresh stat every time, so a lost update costs a re-hash only.
type StatCache struct {
	file    string
	mu      sync.Mutex
	entries map[string]statEntry
	dirty   bool
}

// StatCache loads the stat cache of the source directory dir.
func (s *Store) StatCache(dir string) *StatCache {
	sum := sha256.Sum256([]byte(dir))
	c := &StatCache{
		file:    filepath.Join(s.root, "statcache", hex.EncodeToString(sum[:16])+".json"),
		entries: map[string]statEntry{},
	}
	if b, err := os.ReadFile(c.file); err == nil {
		_ = json.Unmarshal(b, &c.entries) // a corrupt cache is an empty cache
	}
	return c
}

func (c *StatCache) Lookup(rel string, k StatKey) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[rel]
	if !ok || e.StatKey != k {
		return "", false
	}
	return e.Digest, true
}

// Record stores a digest computed from a read that started at hashStart.
func (c *StatCache) Record(rel string, k StatKey, digest string, hashStart time.Time) {
	if c == nil || k.MtimeNs > hashStart.Add(-racyWindow).UnixNano() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[rel]; ok && e.StatKey == k && e.Digest == digest {
		return
	}
	c.entries[rel] = statEntry{StatKey: k, Digest: digest}
	c.dirty = true
}

// Save merges this cache into the file under a lock and replaces it
// atomically.
func (c *StatCache) Save() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	lk := flock.New(c.file + ".lock")
	if err := lk.Lock(); err != nil {
		return err
	}
	defer lk.Unlock()
	merged := map[string]statEntry{}
	if b, err := os.ReadFile(c.file); err == nil {
		_ = json.Unmarshal(b, &merged)
	}
	for k, v := range c.entries {
		merged[k] = v
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(c.file, b, 0o644); err != nil {
		return err
	}
	c.dirty = false
	return nil
}
