//go:build !(linux || darwin || freebsd)

package store

import "io/fs"

// KeyOf: without inode and ctime the cache still compares size and mtime.
func KeyOf(fi fs.FileInfo) StatKey {
	return StatKey{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
}
