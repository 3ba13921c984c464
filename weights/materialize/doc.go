// Package materialize places pulled weights where a container expects
// them, from the content store: each v1 weight at ROOT/<target>, each file
// of a February 2026 bundle at ROOT/<vnd.cog.weights.dest>. Files are hard
// links to the store's read-only blobs (copies where the kernel refuses a
// link across file systems). A new version is built beside the old one
// and swapped in with one rename, so a reader sees the old version or the
// new, never a mix. Readiness markers (spec §11) say which:
// .cog/downloading first, .cog/ready last, .cog/failed holding the error.
//
// It also verifies what is materialized against what was delivered.
package materialize
