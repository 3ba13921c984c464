package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
)

func TestParseRangeEnd(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0-0": 0, "0-99": 100, "bytes=0-1023": 1024} {
		got, err := parseRangeEnd(in)
		if err != nil || got != want {
			t.Errorf("parseRangeEnd(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"garbage", "0-x"} {
		if _, err := parseRangeEnd(bad); err == nil {
			t.Errorf("invalid Range %q accepted", bad)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":     0,
		"3":    3 * time.Second,
		"-1":   0,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRetryableClassification(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&Error{Status: 500}, true},
		{&Error{Status: 503}, true},
		{&Error{Status: 429}, true},
		{&Error{Status: 404}, false},
		{&Error{Status: 401}, false},
		{&Error{Method: "PATCH", Status: 416}, true},
		{&Error{Method: "PUT", Status: 416}, false},
		{&transport.Error{StatusCode: 503}, true},
		{&transport.Error{StatusCode: 401}, false},
		{fmt.Errorf("write: %w", syscall.ECONNRESET), true},
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("PATCH x: %w", ErrStalled), true},
		{context.Canceled, false},
		{errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), false},
		{errors.New("something else"), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := Retryable(c.err); got != c.want {
			t.Errorf("Retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRetryBudgetIsBounded(t *testing.T) {
	c := &Client{MaxRetries: 3, BackoffBase: 1}
	c.defaults()
	calls := 0
	err := c.retry(context.Background(), "x", func() (bool, error) {
		calls++
		return false, &Error{Method: http.MethodGet, URL: "u", Status: 503}
	})
	if err == nil || calls != 4 {
		t.Errorf("after %d calls: %v; want failure after 1 try + 3 retries", calls, err)
	}
	// Progress between failures resets the budget.
	calls = 0
	err = c.retry(context.Background(), "x", func() (bool, error) {
		calls++
		if calls == 10 {
			return true, nil
		}
		return true, &Error{Status: 500}
	})
	if err != nil || calls != 10 {
		t.Errorf("with progress: %d calls, %v", calls, err)
	}
	none := &Client{MaxRetries: -1}
	none.defaults()
	calls = 0
	_ = none.retry(context.Background(), "x", func() (bool, error) { calls++; return false, &Error{Status: 503} })
	if calls != 1 {
		t.Errorf("MaxRetries < 0 made %d calls, want 1", calls)
	}
}

func TestChunkSizeHonoursRegistryLimits(t *testing.T) {
	u := &upload{r: &Repo{c: &Client{ChunkSize: 10 << 20}}}
	if got := u.chunkSize(); got != 10<<20 {
		t.Errorf("no limits: %d", got)
	}
	u.chunkMin = 32 << 20
	if got := u.chunkSize(); got != 32<<20 {
		t.Errorf("OCI-Chunk-Min-Length 32 MiB: chunk %d", got)
	}
	u.chunkMin, u.chunkMax = 0, 1<<20
	if got := u.chunkSize(); got != 1<<20 {
		t.Errorf("OCI-Chunk-Max-Length 1 MiB: chunk %d", got)
	}
}

func TestParseRepositoryLoopbackIsPlainHTTP(t *testing.T) {
	for s, scheme := range map[string]string{
		"127.0.0.1:5001/acct/model":     "http",
		"localhost:5000/m":              "http",
		"[::1]:5000/m":                  "http",
		"registry.example.com/acct/m":   "https",
		"registry.example.com:443/a/mm": "https",
	} {
		r, err := ParseRepository(s)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if r.Scheme() != scheme {
			t.Errorf("%s: scheme %s, want %s", s, r.Scheme(), scheme)
		}
	}
	for _, bad := range []string{"127.0.0.1:5001/acct/model:tag", "Upper/Case", "a/b@sha256:00"} {
		if _, err := ParseRepository(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: error %v, want one naming the value", bad, err)
		}
	}
}

func TestLocationsRecordsAndBoundsHomes(t *testing.T) {
	dir := t.TempDir()
	reg, _ := name.NewRegistry("reg.example.com:5000")
	d1, d2 := digest.FromString("a"), digest.FromString("b")
	l := LoadLocations(dir, reg)
	if got := l.MountFrom(d1); len(got) != 0 {
		t.Fatalf("empty record knows %q", got)
	}
	for _, repo := range []string{"r1", "r2", "r3", "r4", "r5", "r5"} {
		if err := l.Record(repo, []digest.Digest{d1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := LoadLocations(dir, reg).Record("r9", []digest.Digest{d2}); err != nil {
		t.Fatal(err)
	}
	again := LoadLocations(dir, reg)
	if got := strings.Join(again.MountFrom(d1), ","); got != "r5,r4,r3,r2" {
		t.Errorf("homes of d1: %s; want the 4 most recent, newest first", got)
	}
	if got := again.MountFrom(d2); len(got) != 1 || got[0] != "r9" {
		t.Errorf("homes of d2: %q", got)
	}
}

func TestTokenWatchReadsExpiry(t *testing.T) {
	now := time.Unix(1e9, 0)
	body := ""
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	})
	for _, tc := range []struct {
		name, method, url, ctype, auth, body string
		want                                 time.Duration // 0: not seen as a token
	}{
		{"GET with expires_in", "GET", "https://auth.example/token?service=reg&scope=repository:a:pull", "", "Basic x", `{"token":"t","expires_in":300}`, 300 * time.Second},
		{"no expires_in", "GET", "https://auth.example/token?scope=repository:a:pull", "", "", `{"access_token":"t"}`, 60 * time.Second},
		{"issued_at earlier", "GET", "https://auth.example/token?service=reg", "", "", `{"token":"t","expires_in":300,"issued_at":"` + now.Add(-100*time.Second).UTC().Format(time.RFC3339) + `"}`, 200 * time.Second},
		{"issued_at in the future", "GET", "https://auth.example/token?service=reg", "", "", `{"token":"t","expires_in":300,"issued_at":"` + now.Add(time.Hour).UTC().Format(time.RFC3339) + `"}`, 300 * time.Second},
		{"OAuth2 POST", "POST", "https://auth.example/token", "application/x-www-form-urlencoded", "", `{"access_token":"t","expires_in":120}`, 120 * time.Second},
		{"a registry answer", "GET", "https://reg.example/v2/a/manifests/v1", "", "Bearer t", `{"token":"x","expires_in":1}`, 0},
		{"a plain GET", "GET", "https://reg.example/v2/", "", "", `{"token":"x","expires_in":1}`, 0},
		{"a POST that is no form", "POST", "https://reg.example/v2/a/blobs/uploads/", "application/json", "", `{"token":"x"}`, 0},
		{"no token", "GET", "https://auth.example/token?service=reg", "", "", `{"expires_in":1}`, 0},
		{"not JSON", "GET", "https://auth.example/token?service=reg", "", "", `<html>`, 0},
	} {
		w := &tokenWatch{base: base, now: func() time.Time { return now }}
		body = tc.body
		req, _ := http.NewRequest(tc.method, tc.url, nil)
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := w.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != tc.body {
			t.Errorf("%s: the body passed on is %q", tc.name, b)
		}
		got := time.Duration(0)
		if e := w.expires(); !e.IsZero() {
			got = e.Sub(now)
		}
		if got != tc.want {
			t.Errorf("%s: expires in %s, want %s", tc.name, got, tc.want)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
