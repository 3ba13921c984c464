//go:build !(linux || darwin || freebsd)

package weights

import "io/fs"

// Without inode and ctime the cache still compares size and mtime.
func statKeyOf(fi fs.FileInfo) statKey {
	return statKey{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
}
