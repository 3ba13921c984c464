package pulltest

import (
	"bytes"
	"compress/gzip"

	"github.com/opencontainers/image-spec/specs-go"
)

func specsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}
