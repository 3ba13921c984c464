package weights

// The I/O half of `weights status` against a registry: HEAD requests for
// the blobs, manifests and tags a lock needs, through the one registry
// client (internal/registry), without retries: a status answers in seconds
// or says why it could not.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/internal/registry"
)

// Defaults of ProbeOptions.
const (
	DefaultProbeTimeout     = 15 * time.Second
	DefaultProbeConcurrency = 8
	probeDialTimeout        = 5 * time.Second
)

// ProbeOptions configures ProbeRegistry.
type ProbeOptions struct {
	Keychain    authn.Keychain    // default authn.DefaultKeychain
	Transport   http.RoundTripper // base transport; default one with short dial/TLS/header timeouts
	Hosts       *registry.Hosts   // scheme and TLS trust per host; default: HTTPS, system and certs.d CAs
	Timeout     time.Duration     // bound on the whole probe; default DefaultProbeTimeout
	Concurrency int               // HEAD requests in flight; default DefaultProbeConcurrency
}

// RegistryError says why a registry could not be compared.
type RegistryError struct {
	Host string
	Kind string // "unreachable", "auth", "timeout" or "error"
	Err  error
}

func (e *RegistryError) Error() string {
	switch e.Kind {
	case "unreachable":
		return fmt.Sprintf("registry %s is unreachable: %v", e.Host, e.Err)
	case "auth":
		return fmt.Sprintf("registry %s refused access (check `docker login %s` or your credential helper): %v", e.Host, e.Host, e.Err)
	case "timeout":
		return fmt.Sprintf("registry %s did not answer in time: %v", e.Host, e.Err)
	}
	return fmt.Sprintf("registry %s: %v", e.Host, e.Err)
}

func (e *RegistryError) Unwrap() error { return e.Err }

// ParseRepository parses a bare repository reference (REGISTRY/PATH);
// loopback registries are spoken to over plain HTTP.
func ParseRepository(s string) (name.Repository, error) { return registry.ParseRepository(s) }

// ProbeRegistry asks repo, with HEAD requests in parallel, which of want's
// blobs, manifests and tags it holds. A registry that cannot be reached,
// refuses credentials, or answers something other than found / not found
// gives a *RegistryError; the probe never outlives opts.Timeout or ctx.
func ProbeRegistry(ctx context.Context, repo name.Repository, want RegistryWant, opts ProbeOptions) (RegistryState, error) {
	st := RegistryState{Blobs: map[string]bool{}, Manifests: map[string]bool{}, Tags: map[string]string{}}
	if want.Empty() {
		return st, nil
	}
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	if opts.Transport == nil {
		opts.Transport = probeTransport()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultProbeTimeout
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultProbeConcurrency
	}
	host := repo.RegistryStr()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	client := &registry.Client{Keychain: opts.Keychain, Transport: opts.Transport, Hosts: opts.Hosts, MaxRetries: -1}
	r := client.Repo(repo, registry.Pull)

	type result struct {
		kind, key, digest string
		found             bool
	}
	type job struct{ kind, key string }
	var jobs []job
	for _, d := range want.Blobs {
		jobs = append(jobs, job{"blob", d})
	}
	for _, d := range want.Manifests {
		jobs = append(jobs, job{"manifest", d})
	}
	for _, t := range want.Tags {
		jobs = append(jobs, job{"tag", t})
	}
	results := make([]result, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	for i, j := range jobs {
		g.Go(func() error {
			var (
				found bool
				dig   string
				err   error
			)
			if j.kind == "blob" {
				found, err = r.HeadBlob(gctx, digest.Digest(j.key))
			} else {
				var d digest.Digest
				found, d, err = r.HeadManifest(gctx, j.key, manifestAccept)
				dig = d.String()
			}
			if err != nil {
				return err
			}
			results[i] = result{j.kind, j.key, dig, found}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return st, classify(ctx, host, err)
	}
	for _, r := range results {
		switch r.kind {
		case "blob":
			st.Blobs[r.key] = r.found
		case "manifest":
			st.Manifests[r.key] = r.found
		case "tag":
			if r.found {
				st.Tags[r.key] = r.digest
			}
		}
	}
	return st, nil
}

// manifestAccept: a weight manifest may be stored under any manifest
// type; asking for all makes the registry report what a tag holds.
var manifestAccept = registry.AcceptManifests

// classify names the reason a probe failed.
func classify(ctx context.Context, host string, err error) error {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case registry.Denied(err):
		return &RegistryError{Host: host, Kind: "auth", Err: err}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil,
		errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return &RegistryError{Host: host, Kind: "timeout", Err: err}
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &de), errors.As(err, &oe), errors.Is(err, syscall.ECONNREFUSED):
		return &RegistryError{Host: host, Kind: "unreachable", Err: err}
	}
	return &RegistryError{Host: host, Kind: "error", Err: err}
}

func probeTransport() http.RoundTripper {
	return registry.ProbeTransport(probeDialTimeout, DefaultProbeConcurrency)
}

// RegistryReport is the registry part of `weights status`.
type RegistryReport struct {
	Repository string                 `json:"repository,omitempty"`
	Checked    bool                   `json:"checked"`
	Skipped    string                 `json:"skipped,omitempty"` // why nothing was asked
	Error      string                 `json:"error,omitempty"`   // why the comparison failed
	Weights    []WeightRegistryReport `json:"weights"`
}

// CheckRegistry compares every weight of lock with repo: plan, probe,
// compare. A registry failure is reported in the result, not returned, so
// the rest of a status can still be printed; only a cancelled ctx is an
// error.
func CheckRegistry(ctx context.Context, lock *config.Lock, repo name.Repository, tagOf TagFunc, opts ProbeOptions) (RegistryReport, error) {
	rep := RegistryReport{Repository: repo.Name(), Weights: []WeightRegistryReport{}}
	if len(lock.Weights) == 0 {
		rep.Skipped = "weights.lock has no weights"
		return rep, nil
	}
	st, err := ProbeRegistry(ctx, repo, RegistryWanted(lock, tagOf), opts)
	if err != nil {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		rep.Error = err.Error()
		return rep, nil
	}
	rep.Checked = true
	rep.Weights = CompareRegistry(lock, tagOf, st)
	return rep, nil
}
