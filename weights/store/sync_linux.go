package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing n bytes at off of f to
// disk, without waiting. Only a hint: errors show in the later fsync.
func startWriteback(f *os.File, off, n int64) {
	if n > 0 {
		_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}
}

// syncAll makes the ingests durable with one syncfs of their file system
// (root is a directory on it, opened before they were written, so that
// syncfs reports their writeback errors).
func syncAll(root *os.File, _ []*Ingest) error {
	return unix.Syncfs(int(root.Fd()))
}
