package weights

import (
	"errors"
	"os"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// LoadLock reads weights.lock; a missing file is an empty lock.
func LoadLock(path string) (*config.Lock, error) {
	l, _, err := readLock(path)
	return l, err
}

// readLock reads weights.lock with config's strict parser; a missing file
// is an empty lock. The raw bytes are returned so a rewrite can be skipped
// when nothing changed.
func readLock(path string) (*config.Lock, []byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &config.Lock{Version: 1}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	l, err := config.ParseLock(path, b)
	if err != nil {
		return nil, nil, err
	}
	return l, b, nil
}

func encodeLock(l *config.Lock) ([]byte, error) { return config.MarshalLock(l) }

// storeOrDefault returns st, or the store in its default location
// (store.DefaultDir) when st is nil.
func storeOrDefault(st *store.Store) (*store.Store, error) {
	if st != nil {
		return st, nil
	}
	dir, err := store.DefaultDir()
	if err != nil {
		return nil, err
	}
	return store.Open(dir)
}
