package weights

// The I/O half of `weights status` against a registry: HEAD requests for
// the blobs, manifests and tags a lock needs, through go-containerregistry's
// authenticating transport (Docker config, credential helpers, token
// exchange). go-containerregistry has no public blob HEAD (remote.Layer is
// lazy and fetches on demand) and remote.Head would set up a new transport
// per call, so the requests are issued here over one shared transport.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"

	"github.com/cog-frontend/cog-frontend/config"
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

// ParseRepository parses a bare repository reference (REGISTRY/PATH, no
// tag or digest). Loopback registries (localhost, 127.0.0.0/8, ::1) are
// marked insecure so they are spoken to over plain HTTP, as local
// development registries are.
func ParseRepository(s string) (name.Repository, error) {
	r, err := name.NewRepository(s)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%q is not a repository reference (REGISTRY/PATH without tag or digest, e.g. registry.example.com/acct/model): %v", s, err)
	}
	host := r.RegistryStr()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return name.NewRepository(s, name.Insecure)
	}
	return r, nil
}

// LoadLock reads weights.lock; a missing file is an empty lock.
func LoadLock(path string) (*config.Lock, error) {
	l, _, err := readLock(path)
	return l, err
}

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

	auth, err := opts.Keychain.Resolve(repo.Registry)
	if err != nil {
		return st, &RegistryError{Host: host, Kind: "auth", Err: fmt.Errorf("resolving credentials: %w", err)}
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, opts.Transport, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return st, classify(ctx, host, err)
	}
	client := &http.Client{
		Transport: rt,
		// A blob HEAD may be answered with a redirect to storage (S3, a
		// CDN) that does not accept HEAD on a GET-signed URL; the redirect
		// itself already says the registry has the blob.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	base := url.URL{Scheme: repo.Scheme(), Host: host, Path: "/v2/" + repo.RepositoryStr() + "/"}

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
			p := "blobs/" + j.key
			if j.kind != "blob" {
				p = "manifests/" + j.key
			}
			found, dig, err := head(gctx, client, base.JoinPath(p).String(), j.kind != "blob")
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

// manifestAccept is what a weight manifest may be stored as; asking for all
// common manifest types makes the registry report what the tag holds
// rather than 404 on a type mismatch.
var manifestAccept = strings.Join([]string{
	MediaTypeManifest,
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")

// head sends one HEAD and says whether the object exists, with the
// Docker-Content-Digest of a manifest.
func head(ctx context.Context, c *http.Client, u string, manifest bool) (bool, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return false, "", err
	}
	if manifest {
		req.Header.Set("Accept", manifestAccept)
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, "", err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		return true, resp.Header.Get("Docker-Content-Digest"), nil
	case resp.StatusCode == http.StatusNotFound:
		return false, "", nil
	case !manifest && resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "":
		return true, "", nil
	}
	// Turn the status into a transport.Error so classify can tell auth
	// failures from other answers.
	return false, "", &transport.Error{StatusCode: resp.StatusCode, Request: req}
}

// classify names the reason a probe failed.
func classify(ctx context.Context, host string, err error) error {
	var te *transport.Error
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden):
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

// probeTransport is http.DefaultTransport with short connection timeouts,
// so an unreachable or silent host fails in seconds, not minutes.
func probeTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: probeDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = probeDialTimeout
	t.ResponseHeaderTimeout = 10 * time.Second
	t.MaxIdleConnsPerHost = DefaultProbeConcurrency
	return t
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
