// Package store is the local content store of weights: blobs keyed by
// sha256, written containerd-style (ingest, verify, rename) so a
// half-written blob is never visible; resumable partial ingests that
// survive interrupted transfers (Partial); and the stat cache that lets a
// re-import trust a file's digest while its stat is unchanged.
//
// It knows no sources and no network: callers bring the bytes.
package store
