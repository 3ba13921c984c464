// Package atomicfile writes files so that a reader sees the old content or
// the new, never a partial file, and a failed write leaves the old file as it
// was: a temporary file in the same directory, filled, fsynced, given its
// mode, renamed over the destination, and the directory fsynced so the
// rename survives a crash.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write creates path with perm, its content written by fill.
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: some file systems refuse fsync on directories
		d.Close()
	}
	return nil
}

// WriteFile creates path with perm holding data.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
