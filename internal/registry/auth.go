package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// AuthError is a registry refusing our credentials, or their absence, for
// what we asked. It names the registry and the fix.
type AuthError struct {
	Host   string
	Repo   string // the repository, without the host
	Access Access
	Creds  string // where the credentials came from, in words
	Err    error
}

func (e *AuthError) Error() string {
	what := "pull"
	if e.Access == Push {
		what = "push"
	}
	return fmt.Sprintf("registry %s refused %s access to %s with %s: %v; log in with `docker login %s` (or fix the entry for %s in %s: auths, credsStore, credHelpers)",
		e.Host, what, e.Repo, e.Creds, e.Err, e.Host, e.Host, DockerConfigFile())
}

func (e *AuthError) Unwrap() error { return e.Err }

// DockerConfigFile is the Docker client configuration the default keychain
// reads: $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func DockerConfigFile() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "~/.docker/config.json"
	}
	return filepath.Join(h, ".docker", "config.json")
}

// credsFor describes the credentials the keychain gives for r's registry,
// without revealing them.
func (r *Repo) credsFor() string {
	auth, err := r.c.Keychain.Resolve(r.name.Registry)
	if err != nil {
		return "no usable credentials (" + err.Error() + ")"
	}
	if auth == authn.Anonymous {
		return "no credentials (none for " + r.name.RegistryStr() + " in " + DockerConfigFile() + ")"
	}
	if cfg, err := auth.Authorization(); err == nil && cfg.Username != "" {
		return "the credentials of user " + cfg.Username
	}
	return "the credentials found for it"
}

// explain turns a refusal of our credentials into an *AuthError.
func (r *Repo) explain(err error) error {
	if err == nil || !Denied(err) || errors.As(err, new(*AuthError)) {
		return err
	}
	return &AuthError{Host: r.name.RegistryStr(), Repo: r.name.RepositoryStr(), Access: r.access, Creds: r.credsFor(), Err: err}
}

// Explain turns err, from any request to repo with access a (also one made
// by go-containerregistry's remote package), into an *AuthError when the
// registry refused our credentials; other errors are returned as they are.
func (c *Client) Explain(repo name.Repository, a Access, err error) error {
	return c.Repo(repo, a).explain(err)
}

// Check makes sure the registry accepts our credentials for r's access
// before anything is built or sent: it authenticates (the token exchange
// included), then for pull access asks GET /v2/, and for push access opens
// an upload session and deletes it again, since only that shows whether a
// token really grants push. A refusal is an *AuthError.
func (r *Repo) Check(ctx context.Context) error {
	hc, err := r.http(ctx, nil)
	if err != nil {
		return r.explain(err)
	}
	base := r.c.Hosts.Scheme(r.name.RegistryStr()) + "://" + r.name.RegistryStr() + "/v2/"
	err = r.c.retry(ctx, "check access to "+r.name.String(), func() (bool, error) {
		if r.access != Push {
			_, _, err := r.c.do(ctx, hc, http.MethodGet, base, nil, nil, 0, http.StatusOK)
			return false, err
		}
		resp, _, err := r.c.do(ctx, hc, http.MethodPost, r.url("/blobs/uploads/"), nil, strings.NewReader(""), 0, http.StatusAccepted)
		if err != nil {
			return false, err
		}
		if loc, err := r.resolve(resp.Header.Get("Location")); err == nil {
			r.cancelSession(ctx, loc, "")
		}
		return false, nil
	})
	return r.explain(err)
}
