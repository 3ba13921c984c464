package registry

// Tokens are renewed before they expire, not only on the registry's 401. A
// 401 to an upload chunk costs nothing when the registry answers before
// the body is sent ("Expect: 100-continue"; distribution does), but a proxy
// in front of a registry may answer 100 Continue itself, or read the whole
// body before passing the request on (nginx buffers request bodies), and
// then a chunk refused for an expired token has been sent for nothing. So
// an upload asks for a new token before a chunk that would outlast the one
// it has.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// defaultTokenLifetime is a token's lifetime when the token service does
// not say (the distribution token spec's default for expires_in).
const defaultTokenLifetime = 60 * time.Second

// tokenWatch is the transport under go-containerregistry's token exchange:
// it passes everything on, and notes when the token it last saw issued
// expires.
type tokenWatch struct {
	base http.RoundTripper
	now  func() time.Time

	mu  sync.Mutex
	exp time.Time
}

func (w *tokenWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	start := w.now()
	resp, err := w.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || !isTokenRequest(req) {
		return resp, err
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{rerr}))
	var t struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		IssuedAt    string `json:"issued_at"`
	}
	if rerr != nil || json.Unmarshal(b, &t) != nil || (t.Token == "" && t.AccessToken == "") {
		return resp, nil
	}
	life := defaultTokenLifetime
	if t.ExpiresIn > 0 {
		life = time.Duration(t.ExpiresIn) * time.Second
	}
	// The clock that counts is ours: issued_at is only trusted when it is
	// not later than when we asked (a server clock ahead of ours).
	at := start
	if ia, err := time.Parse(time.RFC3339, t.IssuedAt); err == nil && ia.Before(start) {
		at = ia
	}
	w.mu.Lock()
	w.exp = at.Add(life)
	w.mu.Unlock()
	return resp, nil
}

// expires is when the last token seen expires; zero if none was seen.
func (w *tokenWatch) expires() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.exp
}

// isTokenRequest: go-containerregistry asks a token service with GET
// realm?service=...&scope=... (credentials as basic auth) or with a form
// POST (an identity token).
func isTokenRequest(req *http.Request) bool {
	if strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
		return false
	}
	switch req.Method {
	case http.MethodGet:
		return req.URL.Query().Has("service") || req.URL.Query().Has("scope")
	case http.MethodPost:
		return strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
	}
	return false
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// tokenMargin is how long before a token's expiry a request must be done:
// for clock skew and the time the request takes to reach the registry.
const tokenMargin = 5 * time.Second

// fresh returns cn, or when its token would expire before a request of
// about d is done, a new authenticated client with a new token (cached in
// cn's place).
func (r *Repo) fresh(ctx context.Context, cn *conn, mountFrom []string, d time.Duration) (*conn, error) {
	exp := cn.watch.expires()
	if exp.IsZero() || r.c.now().Add(d+tokenMargin).Before(exp) {
		return cn, nil
	}
	key := r.connKey(mountFrom)
	r.c.mu.Lock()
	if r.c.conns[key] == cn {
		delete(r.c.conns, key)
		r.c.Stats.TokensRenewed.Add(1)
	} // else another upload renewed it already: take that one
	r.c.mu.Unlock()
	return r.conn(ctx, mountFrom)
}
