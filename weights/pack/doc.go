// Package pack is the pure, byte-exact half of managed weights (spec
// weights-v1 §4–§8): the packing plan, the deterministic tar/gzip stream of
// a layer with every file's digest taken from the same read, the set
// digest, envelopeFormat, and the weight config blob and manifest bytes.
//
// For the same files, names and targets every byte it produces equals
// Cog's. It does no I/O of its own: file bytes come through an OpenFunc and
// layers go to an io.Writer, so the local store, sources and the lock file
// stay in package weights.
package pack
