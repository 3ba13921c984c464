package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/internal/registry/registrytest"
)

// tokenAuth puts bearer-token auth in front of a registrytest registry: the
// token service at /token hands out a new token each time; expire makes the
// current one refused, as a registry refuses an expired token.
type tokenAuth struct {
	host    string
	mu      sync.Mutex
	valid   string
	issued  int
	patches int
}

func (a *tokenAuth) expire() { a.mu.Lock(); a.valid = ""; a.mu.Unlock() }

func (a *tokenAuth) before(w http.ResponseWriter, r *http.Request) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.URL.Path == "/token" {
		a.issued++
		a.valid = fmt.Sprintf("token-%d", a.issued)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"token": a.valid, "expires_in": 300})
		return true
	}
	if a.valid == "" || r.Header.Get("Authorization") != "Bearer "+a.valid {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="https://%s/token",service="registrytest"`, a.host))
		registrytest.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return true
	}
	if r.Method == http.MethodPatch {
		a.patches++
	}
	return false
}

// httpsTo sends every request over HTTPS to a test server speaking TLS on
// loopback (where Hosts chooses plain HTTP), through base.
type httpsTo struct{ base http.RoundTripper }

func (h httpsTo) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.URL.Scheme = "https"
	return h.base.RoundTrip(r2)
}

// TestExpiredTokenMidUploadResendsNoBytes: a registry speaking HTTP/2 over
// TLS (as distribution does) refuses the token between two chunks, as after
// the token expired. The refresh resends the refused chunk whole and the blob goes out
// once: with "Expect: 100-continue" the refused PATCH carried no body.
func TestExpiredTokenMidUploadResendsNoBytes(t *testing.T) {
	reg := registrytest.New()
	auth := &tokenAuth{}
	reg.Before = auth.before
	var protos sync.Map
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto, true)
		reg.ServeHTTP(w, r)
	}))
	// Both, as registries offer them (ALPN picks).
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	auth.host = host
	repo, err := ParseRepository(host + "/acct/model")
	if err != nil {
		t.Fatal(err)
	}
	base := DefaultTransport()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	base.TLSClientConfig.RootCAs = pool
	c := &Client{Keychain: anonymous, Transport: httpsTo{base}, BackoffBase: time.Millisecond, ChunkSize: 1 << 20}
	b, d := blob(8 << 20)
	var chunks atomic.Int64
	progress := func(status string, cur int64) {
		if status == "uploading" && cur > 0 && cur%(1<<20) == 0 && chunks.Add(1) == 2 {
			auth.expire()
		}
	}
	if _, err := c.Repo(repo, Push).PushBlob(context.Background(), d, opener(b), nil, progress); err != nil {
		t.Fatalf("push: %v", err)
	}
	if got, ok := reg.Blob("acct/model", d.Digest); !ok || len(got) != len(b) {
		t.Fatalf("registry holds %d bytes, want %d", len(got), len(b))
	}
	if auth.issued < 2 {
		t.Errorf("%d tokens issued: the token was never refused", auth.issued)
	}
	if n := c.Stats.BytesSent.Load(); n != d.Size {
		t.Errorf("sent %d bytes for a %d byte blob (retries %d, resumed %d)", n, d.Size, c.Stats.Retries.Load(), c.Stats.Resumed.Load())
	}
	if _, h2 := protos.Load("HTTP/2.0"); !h2 {
		t.Errorf("the test server was not spoken to over HTTP/2")
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestTokenRenewedBeforeAChunkWouldOutliveIt: behind a proxy that reads a
// whole request body before the registry checks the token (as nginx
// buffers), a chunk sent with an expired token is sent for nothing. Tokens
// live 60 s and each chunk takes 20 s, so the upload asks for a new token
// before a chunk its token would not outlast, and nothing is sent twice.
func TestTokenRenewedBeforeAChunkWouldOutliveIt(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	reg := registrytest.New()
	var (
		mu       sync.Mutex
		issued   = map[string]time.Time{}
		received int64
		refused  int
	)
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			mu.Lock()
			tok := fmt.Sprintf("token-%d", len(issued)+1)
			issued[tok] = clock.now()
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 60})
			return true
		}
		if r.Method == http.MethodPatch {
			// The buffering proxy: the body first, then the registry.
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			clock.add(20 * time.Second)
			mu.Lock()
			received += int64(len(b))
			mu.Unlock()
		}
		mu.Lock()
		defer mu.Unlock()
		at, ok := issued[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		if !ok || clock.now().After(at.Add(60*time.Second)) {
			if r.Method == http.MethodPatch {
				refused++
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="registrytest"`, r.Host))
			registrytest.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return true
		}
		return false
	}
	f := newFixture(t, reg, nil)
	f.c.ChunkSize = 1 << 20
	f.c.Now = clock.now
	b, d := blob(8 << 20)
	f.push(t, b, d)
	if refused > 0 {
		t.Errorf("%d chunks were refused for an expired token", refused)
	}
	if received != d.Size || f.c.Stats.BytesSent.Load() != d.Size {
		t.Errorf("the registry received %d bytes, the client sent %d, for a %d byte blob", received, f.c.Stats.BytesSent.Load(), d.Size)
	}
	if n := f.c.Stats.TokensRenewed.Load(); n < 3 {
		t.Errorf("%d tokens renewed over 160 s of 60 s tokens, want at least 3", n)
	}
}
