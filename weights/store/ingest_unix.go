//go:build linux || darwin || freebsd

package store

import (
	"os"
	"syscall"
)

// lockIngest takes the owner's lock of an ingest file: an exclusive flock
// on the open file, which the kernel drops when the process ends however
// it ends (kill -9 included). It fails at once if someone holds it.
func lockIngest(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// removeIfStale checks whether the ingest at path has no owner any more
// and, if so, removes it while holding its lock, so its owner cannot be a
// process that is about to take it (see NewIngest).
func removeIfStale(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if lockIngest(f) != nil {
		return 0, false // a running process owns it
	}
	fi, err := f.Stat()
	if err != nil || os.Remove(path) != nil {
		return 0, false
	}
	return fi.Size(), true
}
