//go:build linux || darwin || freebsd

package store

import (
	"io/fs"
	"syscall"
)

// KeyOf extracts what the stat cache compares. ctime changes on any
// inode change (including a content rewrite that restores mtime), so with
// size, mtime and the inode number it is a strong "unchanged" signal.
func KeyOf(fi fs.FileInfo) StatKey {
	k := StatKey{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.Dev = uint64(st.Dev)
		k.Ino = uint64(st.Ino)
		k.CtimeNs = ctimeNs(st)
	}
	return k
}
