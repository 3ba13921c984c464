package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cog-frontend/cog-frontend/exporter"
	"github.com/cog-frontend/cog-frontend/internal/registry"
)

// registryHosts is how this process reaches registries: HTTPS with the
// system's CAs plus those of certs.d/<host>/ and hosts.toml, plain HTTP
// only to loopback hosts, hosts.toml servers named http://, or with
// --insecure.
var registryHosts = &registry.Hosts{}

const insecureUsage = "speak plain HTTP to the registries this command names (never the default; loopback registries always use plain HTTP)"

// parseRef parses an image reference; with --insecure it is marked so that
// go-containerregistry's remote package speaks plain HTTP to it.
func parseRef(s string) (name.Reference, error) {
	if registryHosts.AllowPlainHTTP {
		return name.ParseReference(s, name.Insecure)
	}
	return name.ParseReference(s)
}

// remoteOptions are the options of go-containerregistry's remote package
// for reading images: Docker credentials, and registryHosts' transport.
func remoteOptions() []remote.Option { return exporter.RemoteOptions(registryHosts) }

// explainPull names the registry and the fix when it refused credentials.
func explainPull(repo name.Repository, err error) error {
	return (&registry.Client{Hosts: registryHosts}).Explain(repo, registry.Pull, err)
}

// checkPush makes sure the registry of ref takes our credentials for a
// push before anything is built or uploaded.
func checkPush(ctx context.Context, ref name.Tag) error {
	c := &registry.Client{Hosts: registryHosts, MaxRetries: 2}
	err := c.Repo(ref.Context(), registry.Push).Check(ctx)
	var authErr *registry.AuthError
	var tlsErr *registry.TLSError
	var netErr net.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &authErr), errors.As(err, &tlsErr):
		return fmt.Errorf("before pushing to %s (nothing was built): %w", ref, err)
	case errors.As(err, &netErr):
		reg := ref.Context().RegistryStr()
		return fmt.Errorf("cannot reach registry %s to push %s: %v; check the address and that the registry runs (nothing was built)", reg, ref, err)
	default:
		return fmt.Errorf("before pushing to %s (nothing was built): %w", ref, err)
	}
}
