// Package weights owns managed weights (spec: weights-v1): the inventory of
// a weight's source files, the packing plan, deterministic tar/gzip layers,
// the set digest, envelopeFormat, weight config blobs and manifests, the
// local content store with its stat cache, weights.lock maintenance
// (Import) and the artifacts handed to the exporter (Artifacts).
//
// Byte compatibility with Cog is the contract: for the same files, names
// and targets every digest this package produces equals the one Cog
// produces. The pure parts (plan, set digest, envelope, manifest bytes) do
// no I/O; the file system and HTTP are touched only by inventory, pack,
// store and sources, and a registry only by status_registry.go (HEAD
// requests for `weights status` through internal/registry; the comparison
// itself is pure, status.go). Media types and annotations come from wire.
package weights
