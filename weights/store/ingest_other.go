//go:build !(linux || darwin || freebsd)

package store

import (
	"os"
	"time"
)

func lockIngest(*os.File) error { return nil }

// removeIfStale, without flock, trusts age alone: no ingest is written for
// a day.
func removeIfStale(path string) (int64, bool) {
	fi, err := os.Stat(path)
	if err != nil || time.Since(fi.ModTime()) < 24*time.Hour || os.Remove(path) != nil {
		return 0, false
	}
	return fi.Size(), true
}
