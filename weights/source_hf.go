package weights

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// hfEndpoint is the Hub base URL: $HF_ENDPOINT (mirrors, tests) or the
// public Hub.
func hfEndpoint() string {
	if e := os.Getenv("HF_ENDPOINT"); e != "" {
		return strings.TrimRight(e, "/")
	}
	return "https://huggingface.co"
}

func hfToken() string {
	if t := os.Getenv("HF_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("HUGGING_FACE_HUB_TOKEN")
}

func hfHeader() http.Header {
	h := http.Header{}
	if t := hfToken(); t != "" {
		h.Set("Authorization", "Bearer "+t)
	}
	return h
}

// parseHF splits a normalised hf://org/repo[@rev] URI.
func parseHF(norm string) (repo, rev string) {
	rest := strings.TrimPrefix(norm, "hf://")
	repo, rev = rest, "main"
	if i := strings.LastIndex(rest, "@"); i > 0 {
		repo, rev = rest[:i], rest[i+1:]
	}
	return repo, rev
}

type hfTreeEntry struct {
	Type string `json:"type"`
	Path string `json:"path"`
	Size int64  `json:"size"`
	LFS  *struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	} `json:"lfs"`
}

// listHF lists an hf:// source through the Hub HTTP API (the subset Cog
// uses): the revision resolves to a commit, whose recursive tree gives
// paths, sizes and, for LFS/xet files, their sha256. Small git-stored files
// carry no sha256 in the tree: they are downloaded and hashed, unless the
// commit is the locked one, whose digests are reused. Files are downloaded
// into the store only when a layer must be packed.
func listHF(ctx context.Context, st *store.Store, norm string, old *config.LockWeight, idx int) (*listing, error) {
	repo, rev := parseHF(norm)
	var r struct {
		SHA string `json:"sha"`
	}
	if err := hfGetJSON(ctx, hfEndpoint()+"/api/models/"+repo+"/revision/"+url.PathEscape(rev), &r); err != nil {
		return nil, fmt.Errorf("weight source %s: resolve revision %q: %w", norm, rev, err)
	}
	if r.SHA == "" {
		return nil, fmt.Errorf("weight source %s: the Hub returned no commit for revision %q", norm, rev)
	}
	var entries []hfTreeEntry
	next := hfEndpoint() + "/api/models/" + repo + "/tree/" + r.SHA + "?recursive=true"
	for next != "" {
		var page []hfTreeEntry
		var err error
		if next, err = hfGetPage(ctx, next, &page); err != nil {
			return nil, fmt.Errorf("weight source %s: list files: %w", norm, err)
		}
		entries = append(entries, page...)
	}
	locked := map[string]config.LockFile{}
	if old != nil && idx < len(old.Sources) && old.Sources[idx].URI == norm && old.Sources[idx].Fingerprint == "commit:"+r.SHA {
		for _, f := range old.Files {
			locked[f.Path] = f
		}
	}
	l := &listing{uri: norm, fingerprint: func() string { return "commit:" + r.SHA }}
	for _, e := range entries {
		if e.Type != "file" {
			continue
		}
		if err := pack.ValidatePath(e.Path); err != nil {
			return nil, fmt.Errorf("weight source %s: %w", norm, err)
		}
		f := pack.File{Path: e.Path, Size: e.Size}
		if e.LFS != nil && e.LFS.OID != "" {
			f.Digest, f.Size = "sha256:"+e.LFS.OID, e.LFS.Size
		} else if lf, ok := locked[e.Path]; ok && lf.Size == e.Size {
			f.Digest = lf.Digest
		}
		sf := &srcFile{File: f}
		fileURL := hfEndpoint() + "/" + repo + "/resolve/" + r.SHA + "/" + escapePath(e.Path)
		sf.fetch = func(ctx context.Context) (string, error) {
			if sf.Digest != "" && st.Has(sf.Digest) {
				return st.Path(sf.Digest)
			}
			return download(ctx, st, fileURL, sf.Digest, hfHeader())
		}
		if sf.Digest != "" && st.Has(sf.Digest) {
			sf.abs, _ = st.Path(sf.Digest)
		}
		l.files = append(l.files, sf)
	}
	return l, nil
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func hfGetJSON(ctx context.Context, u string, v any) error {
	_, err := hfGetPage(ctx, u, v)
	return err
}

// hfGetPage GETs a Hub API page into v and returns the next page's URL
// from the Link header ("" on the last page).
func hfGetPage(ctx context.Context, u string, v any) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header = hfHeader()
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: HTTP %s%s", u, resp.Status, authHint(resp.StatusCode))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return "", fmt.Errorf("%s: %w", u, err)
	}
	return nextLink(resp.Header.Get("Link")), nil
}

// nextLink extracts rel="next" from an RFC 8288 Link header.
func nextLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		segs := strings.Split(part, ";")
		if len(segs) < 2 {
			continue
		}
		for _, s := range segs[1:] {
			if strings.TrimSpace(s) == `rel="next"` {
				return strings.Trim(strings.TrimSpace(segs[0]), "<>")
			}
		}
	}
	return ""
}
