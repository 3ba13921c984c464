package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cog-frontend/cog-frontend/internal/registry"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Source serves manifests and blobs by descriptor (an OCI layout on disk or
// a registry repository).
type Source interface {
	Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error)
}

// MountableSource is a Source living in a registry repository; the push
// engine mounts its blobs instead of copying them when the destination is
// another repository of the same registry.
type MountableSource interface {
	Source
	Repository() name.Repository
}

// ReadAllVerified fetches d and checks its size and digest; for manifests
// and configs (small by nature).
func ReadAllVerified(ctx context.Context, s Source, d ocispec.Descriptor) ([]byte, error) {
	const maxManifest = 4 << 20 // the distribution spec lets registries refuse manifests over 4 MiB
	if d.Size > maxManifest {
		return nil, fmt.Errorf("%s is %d bytes; refusing to read more than %d into memory", d.Digest, d.Size, maxManifest)
	}
	rc, err := s.Fetch(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifest+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != d.Size || digest.FromBytes(b) != d.Digest {
		return nil, fmt.Errorf("content of %s does not match its descriptor (got %d bytes, digest %s)", d.Digest, len(b), digest.FromBytes(b))
	}
	return b, nil
}

// LayoutSource reads an OCI image-layout directory.
type LayoutSource struct{ Dir string }

// Fetch opens blobs/<alg>/<hex>.
func (l LayoutSource) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("descriptor digest %q: %w", d.Digest, err)
	}
	f, err := os.Open(filepath.Join(l.Dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()))
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s lacks blob %s: %w", l.Dir, d.Digest, err)
	}
	return f, nil
}

// OpenLayout reads dir/index.json and returns the descriptor named tag
// (org.opencontainers.image.ref.name), or, with tag empty, the entry whose
// ref name does not start with cog- (or the only entry).
func OpenLayout(dir, tag string) (LayoutSource, ocispec.Descriptor, error) {
	src := LayoutSource{Dir: dir}
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return src, ocispec.Descriptor{}, fmt.Errorf("%s is not an OCI layout (no index.json): %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ocispec.ImageLayoutFile)); err != nil {
		return src, ocispec.Descriptor{}, fmt.Errorf("%s is not an OCI layout (no %s file)", dir, ocispec.ImageLayoutFile)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return src, ocispec.Descriptor{}, fmt.Errorf("%s: %w", filepath.Join(dir, "index.json"), err)
	}
	var names []string
	for _, d := range idx.Manifests {
		n := d.Annotations[ocispec.AnnotationRefName]
		names = append(names, n)
		if tag != "" && n == tag {
			return src, d, nil
		}
	}
	if tag == "" {
		var cand []ocispec.Descriptor
		for _, d := range idx.Manifests {
			if !strings.HasPrefix(d.Annotations[ocispec.AnnotationRefName], wire.ReservedTagPrefix) {
				cand = append(cand, d)
			}
		}
		if len(cand) == 1 {
			return src, cand[0], nil
		}
		if len(idx.Manifests) == 1 {
			return src, idx.Manifests[0], nil
		}
		return src, ocispec.Descriptor{}, fmt.Errorf("OCI layout %s holds %d entries (%q); name one with oci-layout://%s:TAG", dir, len(idx.Manifests), names, dir)
	}
	return src, ocispec.Descriptor{}, fmt.Errorf("OCI layout %s has no entry named %q (it has %q)", dir, tag, names)
}

// RegistrySource reads one repository of a registry.
type RegistrySource struct {
	Repo    name.Repository
	Options []remote.Option
}

// Repository implements MountableSource.
func (r RegistrySource) Repository() name.Repository { return r.Repo }

// Fetch reads a manifest (by media type) or a blob by digest.
func (r RegistrySource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	ref := r.Repo.Digest(d.Digest.String())
	opts := append([]remote.Option{remote.WithContext(ctx)}, r.Options...)
	if isManifestType(d.MediaType) {
		desc, err := remote.Get(ref, opts...)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(desc.Manifest)), nil
	}
	l, err := remote.Layer(ref, opts...)
	if err != nil {
		return nil, err
	}
	return l.Compressed()
}

// DefaultRemoteOptions authenticates with the Docker config and credential
// helpers.
func DefaultRemoteOptions() []remote.Option {
	return []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}
}

// RemoteOptions are DefaultRemoteOptions reaching registries through h:
// HTTPS unless h allows plain HTTP, with the CAs of certs.d and hosts.toml.
func RemoteOptions(h *registry.Hosts) []remote.Option {
	return append(DefaultRemoteOptions(), remote.WithTransport(h.Transport(registry.DefaultTransport())))
}

// ResolveRegistry resolves ref (tag or digest) to its root descriptor.
func ResolveRegistry(ctx context.Context, ref name.Reference, opts ...remote.Option) (RegistrySource, ocispec.Descriptor, error) {
	src := RegistrySource{Repo: ref.Context(), Options: opts}
	desc, err := remote.Head(ref, append([]remote.Option{remote.WithContext(ctx)}, opts...)...)
	if err != nil {
		g, gerr := remote.Get(ref, append([]remote.Option{remote.WithContext(ctx)}, opts...)...)
		if gerr != nil {
			return src, ocispec.Descriptor{}, fmt.Errorf("resolve %s: %w", ref, gerr)
		}
		desc = &g.Descriptor
	}
	return src, ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: digest.Digest(desc.Digest.String()), Size: desc.Size}, nil
}

func isManifestType(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, wire.MediaTypeDockerManifest, wire.MediaTypeDockerManifestList:
		return true
	}
	return false
}

// Manifests expands a root descriptor into the list of manifest descriptors
// the bundle should start from: an index gives its manifests (images,
// attestations, maybe weights); a single image manifest gives itself, with
// its platform read from its config.
func Manifests(ctx context.Context, s Source, root ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	raw, err := ReadAllVerified(ctx, s, root)
	if err != nil {
		return nil, err
	}
	switch root.MediaType {
	case ocispec.MediaTypeImageIndex, wire.MediaTypeDockerManifestList:
		var idx ocispec.Index
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, fmt.Errorf("index %s: %w", root.Digest, err)
		}
		return idx.Manifests, nil
	case ocispec.MediaTypeImageManifest, wire.MediaTypeDockerManifest:
		var m ocispec.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", root.Digest, err)
		}
		cfgRaw, err := ReadAllVerified(ctx, s, m.Config)
		if err != nil {
			return nil, fmt.Errorf("config of %s: %w", root.Digest, err)
		}
		var img ocispec.Image
		if err := json.Unmarshal(cfgRaw, &img); err != nil {
			return nil, fmt.Errorf("config of %s is not an image config: %w", root.Digest, err)
		}
		if img.OS == "" || img.Architecture == "" {
			return nil, errors.New("image config of " + root.Digest.String() + " names no os/architecture")
		}
		d := root
		d.Platform = &ocispec.Platform{OS: img.OS, Architecture: img.Architecture, Variant: img.Variant, OSVersion: img.OSVersion}
		return []ocispec.Descriptor{d}, nil
	}
	return nil, fmt.Errorf("%s has media type %q; expected an OCI image index or manifest", root.Digest, root.MediaType)
}

// node is one piece of content to write: a blob or a manifest.
type node struct {
	desc  ocispec.Descriptor
	bytes []byte // set for manifests and small JSON held in memory
	open  func(ctx context.Context) (io.ReadCloser, error)
	// from is the source repository when the content lives in a registry.
	from MountableSource
}

func (n node) reader(ctx context.Context) (io.ReadCloser, error) {
	if n.bytes != nil {
		return io.NopCloser(bytes.NewReader(n.bytes)), nil
	}
	return n.open(ctx)
}

// contents lists what a bundle references: blobs (deduplicated by digest,
// configs and layers) and manifests (images, attestations, weights), so that
// writing blobs first, then manifests, then the index never leaves a
// dangling reference.
func (b *Bundle) contents(ctx context.Context) (blobs, manifests []node, err error) {
	seen := map[digest.Digest]bool{}
	addBlob := func(n node) {
		if !seen[n.desc.Digest] {
			seen[n.desc.Digest] = true
			blobs = append(blobs, n)
		}
	}
	ms, _ := b.Source.(MountableSource)
	for _, d := range append(append([]ocispec.Descriptor{}, b.Images...), b.Attestations...) {
		raw, err := ReadAllVerified(ctx, b.Source, d)
		if err != nil {
			return nil, nil, fmt.Errorf("read manifest %s: %w", d.Digest, err)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		for _, c := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			c := c
			addBlob(node{desc: c, from: ms, open: func(ctx context.Context) (io.ReadCloser, error) { return b.Source.Fetch(ctx, c) }})
		}
		manifests = append(manifests, node{desc: d, bytes: raw})
	}
	for i, w := range b.Weights {
		for _, bl := range append([]Blob{w.Config}, w.Layers...) {
			addBlob(node{desc: bl.Descriptor, open: bl.Open})
		}
		manifests = append(manifests, node{desc: b.WeightDescs[i], bytes: w.Manifest})
	}
	return blobs, manifests, nil
}
