package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
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
