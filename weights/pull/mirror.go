package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

	"github.com/cog-frontend/cog-frontend/internal/registry"
)

// Endpoint is one place a MirrorSource reads from.
type Endpoint struct {
	Name    string // for messages: the host
	Source  Source
	Resolve bool // may answer tag lookups
	Pull    bool // may serve blobs and manifests by digest
}

// MirrorSource reads through mirrors: each request goes to the first
// endpoint able to serve it, and on failure to the next; the last endpoint
// is the upstream. A mirror that fails to answer at all (not a 404) is
// skipped for the rest of the pull. Everything read is verified by digest
// as from any source, so a mirror cannot change what is delivered.
type MirrorSource struct {
	Endpoints []Endpoint

	mu   sync.Mutex
	dead map[int]bool
}

// MirrorsFor builds the source of repo with the mirrors of hf (nil: repo
// itself). Mirrors get a client with a short retry budget, so a dead one
// costs little before the next is tried; the upstream gets client.
func MirrorsFor(client *registry.Client, hf *HostsFile, repo name.Repository) (Source, error) {
	if hf == nil {
		return RegistrySource{Client: client, Repo: client.Repo(repo, registry.Pull)}, nil
	}
	// Endpoints named http:// are spoken to in plain HTTP, as containerd
	// does; every other host keeps the trust rules of client.Hosts.
	hosts := &registry.Hosts{}
	if h := client.Hosts; h != nil {
		hosts.Insecure = append(hosts.Insecure, h.Insecure...)
		hosts.AllowPlainHTTP = h.AllowPlainHTTP
		hosts.CertsDirs = h.CertsDirs
	}
	for _, u := range append(hostURLs(hf.Hosts), hf.Server) {
		if u != nil && u.Scheme == "http" {
			hosts.Insecure = append(hosts.Insecure, u.Host)
		}
	}
	upClient := &registry.Client{Keychain: client.Keychain, Transport: client.Transport, Hosts: hosts, MaxRetries: client.MaxRetries,
		StallTimeout: client.StallTimeout, BackoffBase: client.BackoffBase, MaxRetryAfter: client.MaxRetryAfter, Stats: client.Stats}
	mirrorClient := &registry.Client{Keychain: client.Keychain, Transport: client.Transport, Hosts: hosts, MaxRetries: 1,
		StallTimeout: client.StallTimeout, BackoffBase: client.BackoffBase}
	ms := &MirrorSource{}
	for _, h := range hf.Hosts {
		if !h.Pull {
			continue
		}
		r, err := endpointRepo(h.URL.Scheme, h.URL.Host, repo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", hf.Path, err)
		}
		ms.Endpoints = append(ms.Endpoints, Endpoint{Name: h.URL.Host, Resolve: h.Resolve, Pull: true,
			Source: RegistrySource{Client: mirrorClient, Repo: mirrorClient.Repo(r, registry.Pull)}})
	}
	up := RegistrySource{Client: upClient, Repo: upClient.Repo(repo, registry.Pull)}
	if hf.Server != nil {
		r, err := endpointRepo(hf.Server.Scheme, hf.Server.Host, repo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", hf.Path, err)
		}
		up = RegistrySource{Client: upClient, Repo: upClient.Repo(r, registry.Pull)}
	}
	ms.Endpoints = append(ms.Endpoints, Endpoint{Name: up.Repo.Name().RegistryStr(), Source: up, Resolve: true, Pull: true})
	return ms, nil
}

func hostURLs(hs []Host) []*url.URL {
	var out []*url.URL
	for _, h := range hs {
		out = append(out, h.URL)
	}
	return out
}

func endpointRepo(scheme, host string, repo name.Repository) (name.Repository, error) {
	var opts []name.Option
	if scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	return name.NewRepository(host+"/"+repo.RepositoryStr(), opts...)
}

func (m *MirrorSource) try(resolve bool, f func(Source) error) error {
	var errs []error
	for i, e := range m.Endpoints {
		last := i == len(m.Endpoints)-1
		if (resolve && !e.Resolve) || (!resolve && !e.Pull) {
			continue
		}
		m.mu.Lock()
		dead := m.dead[i]
		m.mu.Unlock()
		if dead && !last {
			continue
		}
		err := f(e.Source)
		if err == nil {
			return nil
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", e.Name, err))
		if s := registry.StatusOf(err); s == 0 || s >= 500 {
			m.mu.Lock()
			if m.dead == nil {
				m.dead = map[int]bool{}
			}
			m.dead[i] = true
			m.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// Manifest implements Source: tags from hosts that may resolve, digests
// from hosts that may pull.
func (m *MirrorSource) Manifest(ctx context.Context, ref string) ([]byte, string, error) {
	_, err := digest.Parse(ref)
	byTag := err != nil
	var (
		raw []byte
		mt  string
	)
	err = m.try(byTag, func(s Source) error {
		var err error
		raw, mt, err = s.Manifest(ctx, ref)
		return err
	})
	return raw, mt, err
}

// Blob implements Source.
func (m *MirrorSource) Blob(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, int64, error) {
	var (
		rc    io.ReadCloser
		start int64
	)
	err := m.try(false, func(s Source) error {
		var err error
		rc, start, err = s.Blob(ctx, d, offset, length)
		return err
	})
	return rc, start, err
}

// Retry implements Source with the upstream's budget.
func (m *MirrorSource) Retry(ctx context.Context, what string, f func() (bool, error)) error {
	return m.Endpoints[len(m.Endpoints)-1].Source.Retry(ctx, what, f)
}

// Remote implements Source.
func (m *MirrorSource) Remote() bool { return true }
