// Package weights owns managed weights (spec: weights-v1): the inventory of
// a weight's source files, the sources behind one interface (source.go:
// local directories, https, hf), weights.lock maintenance (Import),
// `weights status`, and the artifacts handed to the exporter (Artifacts).
// Its layers are subpackages: pack, the byte-exact packing (plan, tar/gzip
// layers, set digest, envelopeFormat, config and manifest bytes); store,
// the local content store (blobs, resumable partial ingests, stat cache).
//
// Byte compatibility with Cog is the contract: for the same files, names
// and targets every digest this package produces equals the one Cog
// produces. The pure parts live in pack and do no I/O; the file system and
// HTTP are touched only by inventory, import, store and sources, and a
// registry only by status_registry.go (HEAD
// requests for `weights status` through internal/registry; the comparison
// itself is pure, status.go). Media types and annotations come from wire.
package weights
