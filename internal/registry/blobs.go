package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
)

// HeadBlob reports whether the repository holds d. A redirect counts as
// found: the registry hands out its storage URL only for blobs it has.
func (r *Repo) HeadBlob(ctx context.Context, d digest.Digest) (bool, error) {
	hc, err := r.http(ctx, nil)
	if err != nil {
		return false, err
	}
	exists := false
	err = r.c.retry(ctx, "HEAD blob "+Short(d), func() (bool, error) {
		resp, _, err := r.c.do(ctx, hc, http.MethodHead, r.url("/blobs/"+d.String()), nil, nil, 0,
			http.StatusOK, http.StatusNotFound, http.StatusTemporaryRedirect, http.StatusFound, http.StatusSeeOther, http.StatusMovedPermanently, http.StatusPermanentRedirect)
		if err == nil {
			exists = resp.StatusCode != http.StatusNotFound && (resp.StatusCode == http.StatusOK || resp.Header.Get("Location") != "")
		}
		return false, err
	})
	return exists, r.explain(err)
}

// GetBlob streams d from byte offset on (a Range request when offset > 0).
// It returns the offset the body starts at: a registry that ignores Range
// answers 200 with the whole blob, and then that is 0. Redirects to storage
// are followed; our credentials are not sent there. The caller verifies the
// digest.
func (r *Repo) GetBlob(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, int64, error) {
	hc, err := r.http(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	var (
		body  io.ReadCloser
		start int64
	)
	err = r.c.retry(ctx, "GET blob "+Short(d), func() (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url("/blobs/"+d.String()), nil)
		if err != nil {
			return false, err
		}
		if offset > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			body, start = resp.Body, 0
			return false, nil
		case http.StatusPartialContent:
			if got, ok := contentRangeStart(resp.Header.Get("Content-Range")); ok && got != offset {
				resp.Body.Close()
				return false, fmt.Errorf("GET blob %s: asked for bytes from %d, registry sent from %d", Short(d), offset, got)
			}
			body, start = resp.Body, offset
			return false, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		return false, checkResponse(resp, b)
	})
	return body, start, r.explain(err)
}

// contentRangeStart reads the first byte of "bytes START-END/SIZE".
func contentRangeStart(v string) (int64, bool) {
	v = strings.TrimPrefix(v, "bytes ")
	s, _, ok := strings.Cut(v, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Mount asks the registry to mount d from another repository of the same
// registry. It reports whether the blob is now in r; a refused mount
// (202 with an upload session, or 401/403 for want of access to from) is
// not an error, and the session it may have opened is cancelled.
func (r *Repo) Mount(ctx context.Context, d digest.Digest, from string) (bool, error) {
	mounted, session, err := r.mount(ctx, d, from)
	if session != nil {
		if loc, err := r.resolve(session.Header.Get("Location")); err == nil {
			r.cancelSession(ctx, loc, from)
		}
	}
	return mounted, err
}

// mount tries one mount. When the registry opens an upload session instead
// (202), it returns that response.
func (r *Repo) mount(ctx context.Context, d digest.Digest, from string) (mounted bool, session *http.Response, err error) {
	hc, err := r.http(ctx, []string{from})
	if Denied(err) {
		// The token service would not grant pull on from: upload with
		// the repository's own scope instead, and do not ask again.
		r.c.unreadable.Store(r.name.RegistryStr()+"/"+from, true)
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	q := url.Values{"mount": {d.String()}, "from": {from}}
	var resp *http.Response
	err = r.c.retry(ctx, "mount "+Short(d)+" from "+from, func() (bool, error) {
		var err error
		resp, _, err = r.c.do(ctx, hc, http.MethodPost, r.url("/blobs/uploads/?"+q.Encode()), nil, strings.NewReader(""), 0, http.StatusCreated, http.StatusAccepted)
		return false, err
	})
	switch {
	case Denied(err):
		// The token left out pull on from (a token scoped to one
		// repository): the upload uses a transport with r's scope only.
		r.c.unreadable.Store(r.name.RegistryStr()+"/"+from, true)
		return false, nil, nil
	case err != nil:
		return false, nil, err
	case resp.StatusCode == http.StatusCreated:
		return true, nil, nil
	}
	return false, resp, nil
}

// cancelSession deletes an upload session we will not use (best effort).
func (r *Repo) cancelSession(ctx context.Context, loc, from string) {
	var mf []string
	if from != "" {
		mf = []string{from}
	}
	if hc, err := r.http(ctx, mf); err == nil {
		_, _, _ = r.c.do(ctx, hc, http.MethodDelete, loc, nil, nil, 0, http.StatusNoContent, http.StatusNotFound)
	}
}

// resolve makes an upload Location absolute against the uploads endpoint.
func (r *Repo) resolve(loc string) (string, error) {
	if loc == "" {
		return "", fmt.Errorf("registry opened an upload session without a Location")
	}
	base, err := url.Parse(r.url("/blobs/uploads/"))
	if err != nil {
		return "", err
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("registry sent an invalid upload Location: %w", err)
	}
	return base.ResolveReference(l).String(), nil
}

// Short is the first 12 hex digits of d, for messages.
func Short(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// cannotRead reports whether a mount from repo of host was refused for want
// of access before.
func (c *Client) cannotRead(host, repo string) bool {
	_, ok := c.unreadable.Load(host + "/" + repo)
	return ok
}
