//go:build !linux

package store

import "os"

func startWriteback(*os.File, int64, int64) {}

func syncAll(_ *os.File, ins []*Ingest) error { return fsyncEach(ins) }

// fsyncEach is syncAll where there is no syncfs.
func fsyncEach(ins []*Ingest) error {
	for _, in := range ins {
		f, err := os.Open(in.f.Name())
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
