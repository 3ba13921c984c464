// Package pull is the consumer side of bundles: it reads a bundle index (the
// managed-weights format of today and the February 2026 "v0" one), a single
// weight manifest, or a weights.lock, into the weights to deliver
// (Resolve*, pure apart from fetching manifests and config blobs), and
// fills the local content store with their files (Fetcher): layers in
// parallel, large blobs as parallel range requests, each layer digest and
// each file digest checked while the bytes stream by, an interrupted layer
// kept as a partial ingest and continued with a Range request.
//
// Files land in the store under their own digest, so a file shared between
// weights or versions crosses the network once. Placing them into a
// container's directories is package materialize's job.
package pull
