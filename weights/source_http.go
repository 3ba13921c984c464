package weights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
func listHTTPS(ctx context.Context, st *Store, norm string, old *config.LockWeight, idx int) (*listing, error) {
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
func downloadHTTPS(ctx context.Context, st *Store, u, expected string) (string, error) {
	if expected != "" && st.Has(expected) {
		return st.Path(expected)
	}
	return st.download(ctx, u, expected, nil)
}

func (s *Store) download(ctx context.Context, u, expected string, hdr http.Header) (string, error) {
	key := sha256.Sum256([]byte(u))
	dir := filepath.Join(s.root, "downloads")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	part := filepath.Join(dir, hex.EncodeToString(key[:16])+".partial")
	metaPath := part + ".json"
	var meta struct{ ETag string }
	if b, err := os.ReadFile(metaPath); err == nil {
		_ = json.Unmarshal(b, &meta)
	}
	f, err := os.OpenFile(part, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	have, err := io.CopyBuffer(h, f, make([]byte, copyBufSize)) // re-hash what an earlier run got
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if have > 0 && meta.ETag != "" {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
			req.Header.Set("If-Range", `"`+meta.ETag+`"`)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			if attempt < 3 && ctx.Err() == nil {
				time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
				continue
			}
			return "", fmt.Errorf("download %s: %w", u, err)
		}
		switch resp.StatusCode {
		case http.StatusPartialContent:
		case http.StatusOK:
			// Full body: start over.
			if err := f.Truncate(0); err != nil {
				resp.Body.Close()
				return "", err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				resp.Body.Close()
				return "", err
			}
			h.Reset()
			have = 0
		default:
			resp.Body.Close()
			if resp.StatusCode >= 500 && attempt < 3 {
				time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
				continue
			}
			return "", fmt.Errorf("download %s: HTTP %s%s", u, resp.Status, authHint(resp.StatusCode))
		}
		meta.ETag = strongETag(resp.Header.Get("ETag"))
		mb, _ := json.Marshal(meta)
		_ = os.WriteFile(metaPath, mb, 0o644)
		n, err := io.CopyBuffer(io.MultiWriter(f, h), ctxio.Reader(ctx, resp.Body), make([]byte, copyBufSize))
		resp.Body.Close()
		have += n
		if err != nil {
			if ctx.Err() == nil && attempt < 3 {
				continue // resume from what we have
			}
			return "", fmt.Errorf("download %s: %w (the partial download is kept and resumed next time)", u, err)
		}
		break
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if expected != "" && got != expected {
		os.Remove(part)
		os.Remove(metaPath)
		return "", fmt.Errorf("download %s: content is %s, expected %s: the file changed upstream; run `cog-frontend weights import`", u, got, expected)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Chmod(0o444); err != nil {
		return "", err
	}
	dst, _ := s.Path(got)
	if _, err := os.Stat(dst); err != nil {
		if err := os.Rename(part, dst); err != nil {
			return "", err
		}
	} else {
		os.Remove(part)
	}
	os.Remove(metaPath)
	return dst, nil
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
