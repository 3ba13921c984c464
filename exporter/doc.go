// Package exporter assembles and publishes a Cog model bundle: one OCI image
// index holding the model image manifest(s), BuildKit's attestation manifests
// (kept byte for byte) and one weight manifest per weight at platform
// unknown/unknown (weights-v1 spec §9).
//
// It owns three outputs: an OCI image-layout directory, an OCI layout tar and
// a registry push. The push decides what goes where (blobs first, then
// manifests under their tags, then the index) and in parallel; the registry
// protocol (HEAD, mounts, chunked uploads that survive dropped connections
// and process kills, retries) is internal/registry's.
//
// The exporter never imports the weights engine: cmd adapts weights.Artifact
// to exporter.Weight. Pure assembly (index.go, tags.go) is separate from I/O
// (source.go, layout.go, push.go).
package exporter
