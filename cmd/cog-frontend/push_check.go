package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// checkPushAccess asks the registry, before anything is built, whether
// ref's repository takes a push with the credentials the push will use: it
// authenticates with push scope, opens a blob upload and cancels it. Only
// an accepted upload proves both; a token can come back with less scope
// than asked for. The build takes minutes, this a second.
func checkPushAccess(ctx context.Context, ref name.Tag, kc authn.Keychain, rt http.RoundTripper) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	repo := ref.Context()
	reg := repo.RegistryStr()
	auth, err := kc.Resolve(repo.Registry)
	if err != nil {
		return fmt.Errorf("credentials for %s: %w; check your Docker config (docker login %s)", reg, err, reg)
	}
	t, err := transport.NewWithContext(ctx, repo.Registry, auth, rt, []string{repo.Scope(transport.PushScope)})
	if err != nil {
		return pushCheckErr(ref, err)
	}
	url := repo.Registry.Scheme() + "://" + reg + "/v2/" + repo.RepositoryStr() + "/blobs/uploads/"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: t}).Do(req)
	if err != nil {
		return pushCheckErr(ref, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return pushCheckErr(ref, &transport.Error{StatusCode: resp.StatusCode})
	}
	// Cancel the empty upload; a registry that keeps it expires it anyway.
	if loc, err := resp.Location(); err == nil {
		if del, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc.String(), nil); err == nil {
			if r, err := (&http.Client{Transport: t}).Do(del); err == nil {
				r.Body.Close()
			}
		}
	}
	return nil
}

func pushCheckErr(ref name.Tag, err error) error {
	reg := ref.Context().RegistryStr()
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("registry %s refuses a push to %s with your credentials (HTTP %d); run `docker login %s` or check the repository name (nothing was built)", reg, ref.Context(), te.StatusCode, reg)
		case 0:
		default:
			return fmt.Errorf("registry %s answered HTTP %d when asked to start a push to %s (nothing was built): %v", reg, te.StatusCode, ref.Context(), err)
		}
	}
	return fmt.Errorf("cannot reach registry %s to push %s: %v; check the address and that the registry runs (nothing was built)", reg, ref, err)
}
