// Package registry is the one client of the OCI distribution API that push,
// `weights status` and the weights pull share: authentication and transport
// (through go-containerregistry), retries with one budget that honour
// Retry-After, errors that say what the registry said, blob HEAD, GET (with
// ranges) and cross-repository mounts, manifests, the resumable chunked blob
// upload with its saved state, and the record of where blobs were pushed.
//
// It knows nothing of Cog: callers hand it descriptors and byte sources.
//
// Extension points kept in view: TLS with private CAs is a base Transport
// (Client.Transport); per-repository token scopes are chosen per request set
// in Client.http (push, pull, pull on mount sources); a mount the registry
// refuses (202, 401 or 403) falls back to a plain upload.
package registry
