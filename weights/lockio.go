package weights

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/cog-frontend/cog-frontend/config"
)

// readLock reads weights.lock; a missing file is an empty lock.
func readLock(path string) (*config.Lock, []byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &config.Lock{Version: 1}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	l, err := parseLock(path, b)
	if err != nil {
		return nil, nil, err
	}
	return l, b, nil
}

// parseLock and encodeLock are the lockfile codec. TODO(config): switch to
// config.ParseLock / config.MarshalLock once they land; this minimal codec
// follows spec §10 (two-space indent, struct key order, [] for empty
// include/exclude, files by path, layers by digest, no trailing newline as
// Cog writes it).
func parseLock(path string, b []byte) (*config.Lock, error) {
	var probe struct {
		Version json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("%s: not valid JSON: %v; delete it and run `cog-frontend weights import`", path, err)
	}
	if len(probe.Version) > 0 && probe.Version[0] == '"' {
		return nil, fmt.Errorf("%s: \"version\": %s is the February 2026 v0 lockfile format; this tool writes version 1: move it aside and run `cog-frontend weights import`", path, probe.Version)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l config.Lock
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if l.Version != 1 {
		return nil, fmt.Errorf("%s: \"version\": %d is not supported; only version 1 is", path, l.Version)
	}
	return &l, nil
}

func encodeLock(l *config.Lock) ([]byte, error) {
	c := *l
	c.Weights = make([]config.LockWeight, len(l.Weights))
	for i, w := range l.Weights {
		c.Weights[i] = canonicalLockWeight(w)
	}
	return json.MarshalIndent(c, "", "  ")
}
