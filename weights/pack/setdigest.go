package pack

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// SetDigest is the content identity of a file set (spec §6), independent of
// packing. Lines are "<hex>  <path>" (sha256sum's format) and are sorted as
// whole strings, so the order is by digest first, as Cog computes it.
func SetDigest(files []File) string {
	lines := make([]string, len(files))
	for i, f := range files {
		lines[i] = strings.TrimPrefix(f.Digest, "sha256:") + "  " + f.Path
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return "sha256:" + hex.EncodeToString(sum[:])
}
