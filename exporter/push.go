package exporter

// The push of a bundle: which blobs and manifests, in what order, under
// which tags, with what progress. The registry protocol (authentication,
// HEAD, mounts, chunked resumable uploads, retries) is internal/registry's.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/cog-frontend/cog-frontend/internal/registry"
	"github.com/cog-frontend/cog-frontend/wire"
)

// Defaults of the push engine; each is a Pusher field.
const (
	DefaultChunkSize    = registry.DefaultChunkSize
	DefaultConcurrency  = 4
	DefaultMaxRetries   = registry.DefaultMaxRetries
	DefaultStallTimeout = registry.DefaultStallTimeout
)

// Pusher pushes bundles and blobs to registries. Set its fields before the
// first push: they configure one registry.Client, made then and reused.
type Pusher struct {
	Keychain     authn.Keychain    // default authn.DefaultKeychain
	Transport    http.RoundTripper // base transport; default registry.DefaultTransport()
	Hosts        *registry.Hosts   // scheme and TLS trust per host; default: HTTPS, system and certs.d CAs
	Concurrency  int               // blobs uploaded at once
	ChunkSize    int64             // preferred PATCH size, clamped to the registry's OCI-Chunk-Min/Max-Length
	Monolithic   bool              // send each blob in one PUT (no chunking)
	StateDir     string            // where upload sessions are persisted; "" = not persisted
	MaxRetries   int
	StallTimeout time.Duration
	BackoffBase  time.Duration // first retry delay (default 200ms), doubled each time, full jitter, capped at 10s
	// MountFrom names other repositories of the same registry known to hold
	// a blob; they are tried as cross-repository mounts before uploading.
	MountFrom func(d digest.Digest) []string
	Progress  func(Progress)

	Stats Stats

	once   sync.Once
	client *registry.Client
}

// Stats counts what a Pusher did.
type Stats = registry.Stats

// Progress reports one blob's upload.
type Progress struct {
	ID      digest.Digest
	Name    string
	Current int64
	Total   int64
	Status  string // "checking", "exists", "mounted", "uploading", "done"
	Started time.Time
	Done    bool
}

// PushResult says what a push published.
type PushResult struct {
	Ref          name.Tag
	Index        ocispec.Descriptor
	Images       []Tagged
	Attestations []ocispec.Descriptor
	Weights      []Tagged
	// Blobs are every blob the repository now holds for the bundle (image
	// and weight configs and layers), for the record of where blobs live.
	Blobs []digest.Digest
}

// Tagged is a manifest and the tag it was pushed under.
type Tagged struct {
	Tag        string
	Descriptor ocispec.Descriptor
	Name       string // weight name
}

func (p *Pusher) registry() *registry.Client {
	p.once.Do(func() {
		if p.Concurrency <= 0 {
			p.Concurrency = DefaultConcurrency
		}
		p.client = &registry.Client{
			Keychain:     p.Keychain,
			Transport:    p.Transport,
			Hosts:        p.Hosts,
			MaxRetries:   p.MaxRetries,
			BackoffBase:  p.BackoffBase,
			StallTimeout: p.StallTimeout,
			ChunkSize:    p.ChunkSize,
			Monolithic:   p.Monolithic,
			StateDir:     p.StateDir,
			Stats:        &p.Stats,
		}
	})
	return p.client
}

// Push publishes b at ref: all blobs (only those missing), then the image,
// attestation and weight manifests, then the index. The image is tagged
// cog-image.<tag>, each weight cog-weight.<name>.<set12>, the index <tag>.
func (p *Pusher) Push(ctx context.Context, b *Bundle, ref name.Tag) (*PushResult, error) {
	c := p.registry()
	if err := ValidateUserTag(ref.TagStr()); err != nil {
		return nil, err
	}
	repo := c.Repo(ref.Context(), registry.Push)
	blobs, manifests, err := b.contents(ctx)
	if err != nil {
		return nil, err
	}
	labels := map[digest.Digest]string{}
	for _, w := range b.Weights {
		labels[w.Config.Descriptor.Digest] = "weight " + w.Name + " config"
		for i, l := range w.Layers {
			labels[l.Descriptor.Digest] = fmt.Sprintf("weight %s layer %d/%d", w.Name, i+1, len(w.Layers))
		}
	}
	res := &PushResult{Ref: ref, Index: b.Index, Attestations: b.Attestations}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.Concurrency)
	for _, n := range blobs {
		label := labels[n.desc.Digest]
		if label == "" {
			label = "image blob " + registry.Short(n.desc.Digest)
		}
		res.Blobs = append(res.Blobs, n.desc.Digest)
		g.Go(func() error {
			var from []string
			if n.from != nil {
				if src := n.from.Repository(); src.RegistryStr() == ref.Context().RegistryStr() {
					from = append(from, src.RepositoryStr())
				}
			}
			if p.MountFrom != nil {
				from = append(from, p.MountFrom(n.desc.Digest)...)
			}
			return p.pushBlob(gctx, repo, n.desc, label, n.reader, from)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	tagFor := map[digest.Digest]Tagged{}
	if len(b.Images) > 0 {
		t := Tagged{Tag: wire.ImageTag(ref.TagStr()), Descriptor: b.Images[0]}
		tagFor[b.Images[0].Digest] = t
		res.Images = append(res.Images, t)
		for _, d := range b.Images[1:] {
			res.Images = append(res.Images, Tagged{Descriptor: d})
		}
	}
	for i, w := range b.Weights {
		t := Tagged{Tag: wire.WeightTag(w.Name, w.SetDigest), Descriptor: b.WeightDescs[i], Name: w.Name}
		tagFor[t.Descriptor.Digest] = t
		res.Weights = append(res.Weights, t)
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(p.Concurrency)
	for _, m := range manifests {
		g.Go(func() error {
			target := m.desc.Digest.String()
			if t, ok := tagFor[m.desc.Digest]; ok {
				target = t.Tag
			}
			return repo.PutManifest(gctx, target, m.desc, m.bytes)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := repo.PutManifest(ctx, ref.TagStr(), b.Index, b.IndexBytes); err != nil {
		return nil, err
	}
	return res, nil
}

// BlobExists reports whether repo already holds d.
func (p *Pusher) BlobExists(ctx context.Context, repo name.Repository, d digest.Digest) (bool, error) {
	return p.registry().Repo(repo, registry.Push).HeadBlob(ctx, d)
}

// PushBlob uploads one blob to repo unless it is already there.
func (p *Pusher) PushBlob(ctx context.Context, repo name.Repository, d ocispec.Descriptor, label string, open func(context.Context) (io.ReadCloser, error)) error {
	var from []string
	if p.MountFrom != nil {
		from = p.MountFrom(d.Digest)
	}
	return p.pushBlob(ctx, p.registry().Repo(repo, registry.Push), d, label, open, from)
}

func (p *Pusher) pushBlob(ctx context.Context, repo *registry.Repo, d ocispec.Descriptor, label string, open registry.Opener, mountFrom []string) error {
	pr := Progress{ID: d.Digest, Name: label, Total: d.Size, Started: time.Now()}
	report := func(status string, current int64) {
		if p.Progress == nil {
			return
		}
		pr.Status, pr.Current = status, current
		pr.Done = status == "exists" || status == "mounted" || status == "done"
		p.Progress(pr)
	}
	if _, err := repo.PushBlob(ctx, d, open, mountFrom, report); err != nil {
		return fmt.Errorf("push %s (%s) to %s: %w", label, d.Digest, repo.Name(), err)
	}
	return nil
}
