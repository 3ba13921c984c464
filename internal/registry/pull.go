package registry

// Reading blobs for the pull engine: ranged GETs whose bodies are watched
// for stalls, and the client's retry loop for callers that resume a body
// themselves (they know how many bytes they kept).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"
)

// Retry runs f under the client's retry budget and backoff, the same that
// push uses: f returns (progress, err); progress resets the budget, so a
// transfer that keeps advancing between faults completes. what names the
// operation in the error.
func (c *Client) Retry(ctx context.Context, what string, f func() (bool, error)) error {
	c.defaults()
	return c.retry(ctx, what, f)
}

// GetBlobRange streams length bytes of d from offset (length < 0: to the
// end). It returns the offset the body starts at: a registry that ignores
// Range answers 200 with the whole blob, and then that is 0 (the caller
// skips what it does not need). The body is watched: when no bytes arrive
// for the stall timeout its Read fails with an error wrapping ErrStalled,
// which Retryable accepts. Redirects to storage are followed without our
// credentials. The caller verifies the digest.
func (r *Repo) GetBlobRange(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, int64, error) {
	hc, err := r.http(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	var (
		body  io.ReadCloser
		start int64
	)
	err = r.c.retry(ctx, "GET blob "+Short(d), func() (bool, error) {
		wctx, wd := r.c.watch(ctx)
		req, err := http.NewRequestWithContext(wctx, http.MethodGet, r.url("/blobs/"+d.String()), nil)
		if err != nil {
			wd.stop()
			return false, err
		}
		switch {
		case length >= 0:
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
		case offset > 0:
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		}
		resp, err := hc.Do(req)
		if err != nil {
			err = stalledErr(wctx, "GET blob "+Short(d), err)
			wd.stop()
			return false, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			body, start = &watchedBody{rc: resp.Body, ctx: wctx, wd: wd, what: "GET blob " + Short(d)}, 0
			return false, nil
		case http.StatusPartialContent:
			if got, ok := contentRangeStart(resp.Header.Get("Content-Range")); ok && got != offset {
				resp.Body.Close()
				wd.stop()
				return false, fmt.Errorf("GET blob %s: asked for bytes from %d, registry sent from %d", Short(d), offset, got)
			}
			body, start = &watchedBody{rc: resp.Body, ctx: wctx, wd: wd, what: "GET blob " + Short(d)}, offset
			return false, nil
		}
		defer wd.stop()
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		return false, checkResponse(resp, b)
	})
	return body, start, err
}

func stalledErr(wctx context.Context, what string, err error) error {
	if errors.Is(context.Cause(wctx), ErrStalled) {
		return fmt.Errorf("%s: %w", what, ErrStalled)
	}
	return err
}

// watchedBody is a response body under the stall watchdog.
type watchedBody struct {
	rc   io.ReadCloser
	ctx  context.Context
	wd   *watchdog
	what string
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.wd.kick()
	}
	if err != nil && err != io.EOF {
		err = stalledErr(b.ctx, b.what, err)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.wd.stop()
	return b.rc.Close()
}
