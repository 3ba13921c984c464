//go:build linux || darwin || freebsd

package store

import (
	"io/fs"
	"syscall"
	"time"
)

// usage reads a blob's hard link count and last use (its atime, which
// Touch sets explicitly, whatever the mount's atime policy).
func usage(fi fs.FileInfo) (links uint64, used time.Time) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink), time.Unix(0, atimeNs(st))
	}
	return 1, fi.ModTime()
}
