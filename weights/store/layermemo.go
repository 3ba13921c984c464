package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
)

// The layer memo records which layer packing a given set of files
// produced (<root>/layers/<hash of key>.json), so an import interrupted
// after some layers were packed does not pack them again: with the file
// digests from the stat cache, the next run finds them here. Like the stat
// cache it is a hint; a lost or corrupt entry costs a repack.

func (s *Store) memoPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(s.root, "layers", hex.EncodeToString(sum[:16])+".json")
}

// RememberLayer records v (JSON) under key. Best effort.
func (s *Store) RememberLayer(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	if os.MkdirAll(filepath.Join(s.root, "layers"), 0o755) == nil {
		_ = atomicfile.WriteFile(s.memoPath(key), b, 0o644)
	}
}

// RecallLayer loads what RememberLayer recorded under key into v.
func (s *Store) RecallLayer(key string, v any) bool {
	b, err := os.ReadFile(s.memoPath(key))
	return err == nil && json.Unmarshal(b, v) == nil
}
