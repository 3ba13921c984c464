package registry

// Manifests go through our own requests rather than go-containerregistry's
// remote.Put/remote.Get: those hide the response, so a Retry-After on a 429
// could not be honoured, and their own retries would nest inside this
// client's one budget. The bytes are given and returned exactly as they are.

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// AcceptManifests asks for every common manifest type, so a registry reports
// what a tag holds rather than 404 on a type mismatch.
var AcceptManifests = strings.Join([]string{
	ocispec.MediaTypeImageManifest,
	ocispec.MediaTypeImageIndex,
	wire.MediaTypeDockerManifest,
	wire.MediaTypeDockerManifestList,
}, ", ")

// HeadManifest reports whether ref (tag or digest) exists and the digest
// the registry gives for it (Docker-Content-Digest; may be "").
func (r *Repo) HeadManifest(ctx context.Context, ref, accept string) (bool, digest.Digest, error) {
	hc, err := r.http(ctx, nil)
	if err != nil {
		return false, "", err
	}
	if accept == "" {
		accept = AcceptManifests
	}
	var (
		found bool
		dig   digest.Digest
	)
	err = r.c.retry(ctx, "HEAD manifest "+ref, func() (bool, error) {
		resp, _, err := r.c.do(ctx, hc, http.MethodHead, r.url("/manifests/"+ref), http.Header{"Accept": {accept}}, nil, 0, http.StatusOK, http.StatusNotFound)
		if err == nil {
			found = resp.StatusCode == http.StatusOK
			dig = digest.Digest(resp.Header.Get("Docker-Content-Digest"))
		}
		return false, err
	})
	return found, dig, r.explain(err)
}

// GetManifest reads ref's bytes and media type.
func (r *Repo) GetManifest(ctx context.Context, ref, accept string) ([]byte, string, error) {
	hc, err := r.http(ctx, nil)
	if err != nil {
		return nil, "", err
	}
	if accept == "" {
		accept = AcceptManifests
	}
	var (
		raw []byte
		mt  string
	)
	err = r.c.retry(ctx, "GET manifest "+ref, func() (bool, error) {
		resp, b, err := r.c.do(ctx, hc, http.MethodGet, r.url("/manifests/"+ref), http.Header{"Accept": {accept}}, nil, 0, http.StatusOK)
		if err == nil {
			raw, mt = b, resp.Header.Get("Content-Type")
		}
		return false, err
	})
	return raw, mt, r.explain(err)
}

// PutManifest uploads raw under target (a tag or d's digest). Under its
// digest, a manifest the registry already has is not sent again.
func (r *Repo) PutManifest(ctx context.Context, target string, d ocispec.Descriptor, raw []byte) error {
	if target == d.Digest.String() {
		found, _, err := r.HeadManifest(ctx, target, d.MediaType)
		if err != nil {
			return err
		}
		if found {
			return nil
		}
	}
	hc, err := r.http(ctx, nil)
	if err != nil {
		return err
	}
	return r.explain(r.c.retry(ctx, "PUT manifest "+r.name.String()+":"+target, func() (bool, error) {
		_, _, err := r.c.do(ctx, hc, http.MethodPut, r.url("/manifests/"+target), http.Header{"Content-Type": {d.MediaType}}, bytes.NewReader(raw), int64(len(raw)), http.StatusCreated, http.StatusOK)
		return false, err
	}))
}
