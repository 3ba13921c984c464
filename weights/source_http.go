package weights

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/internal/ctxio"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// httpClient is shared by the remote sources; no overall timeout, since a
// weight download may take hours; the context bounds it.
var httpClient = &http.Client{Transport: http.DefaultTransport}

// ---- https:// : one file per URL ------------------------------------------

// listHTTPS lists an https:// source: one file named after the last path
// segment of the URL. Its fingerprint is "etag:<strong ETag>" when the
// server sends one, else the body's sha256. When the ETag equals the
// locked fingerprint the file is not downloaded: its size and digest come
// from the lock.
func listHTTPS(ctx context.Context, st *store.Store, norm string, old *config.LockWeight, idx int) (*listing, error) {
	u, err := url.Parse(norm)
	if err != nil {
		return nil, fmt.Errorf("weight source %s: %w", norm, err)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		return nil, fmt.Errorf("weight source %s: the URL names no file", norm)
	}
	if err := pack.ValidatePath(name); err != nil {
		return nil, fmt.Errorf("weight source %s: %w", norm, err)
	}
	etag, err := headETag(ctx, norm)
	if err != nil {
		return nil, err
	}
	l := &listing{uri: norm}
	if etag != "" && old != nil && idx < len(old.Sources) && old.Sources[idx].URI == norm && old.Sources[idx].Fingerprint == "etag:"+etag {
		for _, f := range old.Files {
			if f.Path == name {
				sf := &srcFile{File: pack.File{Path: name, Size: f.Size, Digest: f.Digest}}
				sf.fetch = func(ctx context.Context) (string, error) {
					return downloadHTTPS(ctx, st, norm, f.Digest)
				}
				l.files = []*srcFile{sf}
				l.fingerprint = func() string { return "etag:" + etag }
				return l, nil
			}
		}
	}
	p, err := downloadHTTPS(ctx, st, norm, "")
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	d := "sha256:" + filepath.Base(p)
	l.files = []*srcFile{{File: pack.File{Path: name, Size: fi.Size(), Digest: d}, abs: p}}
	l.fingerprint = func() string {
		if etag != "" {
			return "etag:" + etag
		}
		return d
	}
	return l, nil
}

// headETag returns the strong ETag (quotes removed) of url, "" if none.
func headETag(ctx context.Context, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("weight source %s: %w", u, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusMethodNotAllowed {
		return "", fmt.Errorf("weight source %s: HTTP %s", u, resp.Status)
	}
	return strongETag(resp.Header.Get("ETag")), nil
}

func strongETag(e string) string {
	if e == "" || strings.HasPrefix(e, "W/") {
		return ""
	}
	return strings.Trim(e, `"`)
}

// downloadHTTPS fetches u into the store and returns the blob path. A
// partial download is kept under <store>/downloads and resumed with a Range
// request (If-Range guards against the file changing in between). The body
// is verified against expected when given.
func downloadHTTPS(ctx context.Context, st *store.Store, u, expected string) (string, error) {
	if expected != "" && st.Has(expected) {
		return st.Path(expected)
	}
	return download(ctx, st, u, expected, nil)
}

// download fetches u into st through a resumable partial ingest and
// returns the blob path.
func download(ctx context.Context, st *store.Store, u, expected string, hdr http.Header) (string, error) {
	p, err := st.Resume(u)
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			p.Close()
			return "", err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if p.Size() > 0 && p.ETag() != "" {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(p.Size(), 10)+"-")
			req.Header.Set("If-Range", `"`+p.ETag()+`"`)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			if attempt < 3 && ctx.Err() == nil {
				time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
				continue
			}
			p.Close()
			return "", fmt.Errorf("download %s: %w", u, err)
		}
		switch resp.StatusCode {
		case http.StatusPartialContent:
		case http.StatusOK:
			// Full body: start over.
			if err := p.Reset(); err != nil {
				resp.Body.Close()
				p.Close()
				return "", err
			}
		default:
			resp.Body.Close()
			if resp.StatusCode >= 500 && attempt < 3 {
				time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
				continue
			}
			p.Close()
			return "", fmt.Errorf("download %s: HTTP %s%s", u, resp.Status, authHint(resp.StatusCode))
		}
		p.SetETag(strongETag(resp.Header.Get("ETag")))
		_, err = io.CopyBuffer(p, ctxio.Reader(ctx, resp.Body), make([]byte, copyBufSize))
		resp.Body.Close()
		if err != nil {
			if ctx.Err() == nil && attempt < 3 {
				continue // resume from what we have
			}
			p.Close()
			return "", fmt.Errorf("download %s: %w (the partial download is kept and resumed next time)", u, err)
		}
		break
	}
	_, path, err := p.Commit(expected)
	if err != nil {
		return "", fmt.Errorf("download %s: %w: the file changed upstream; run `cog-frontend weights import`", u, err)
	}
	return path, nil
}

func authHint(code int) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return " (set HF_TOKEN for private Hugging Face repositories, check the URL and your access)"
	case http.StatusNotFound:
		return " (check the URL, repository and revision)"
	}
	return ""
}

// copyBufSize is the copy buffer of downloads: large enough that a
// multi-GiB file is not millions of small writes.
const copyBufSize = 1 << 20
