package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cog-frontend/cog-frontend/internal/registry/registrytest"
)

func TestGetBlobRangeReadsRangesAndWholeBlobs(t *testing.T) {
	reg := registrytest.New()
	f := newFixture(t, reg, nil)
	b, d := blob(1000)
	reg.PutBlob("acct/model", b)
	r := f.c.Repo(f.repo, Pull)
	for _, c := range []struct{ off, n, start, want int64 }{{0, -1, 0, 1000}, {100, 50, 100, 50}, {900, -1, 900, 100}} {
		rc, start, err := r.GetBlobRange(context.Background(), d.Digest, c.off, c.n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || start != c.start || int64(len(got)) != c.want || string(got) != string(b[c.off:c.off+c.want]) {
			t.Errorf("range %d+%d: start %d, %d bytes, %v", c.off, c.n, start, len(got), err)
		}
	}
	// a registry that ignores Range answers 200 with the whole blob
	plain := newFixture(t, reg, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.Header.Del("Range")
		reg.ServeHTTP(w, req)
	}))
	rc, start, err := plain.c.Repo(plain.repo, Pull).GetBlobRange(context.Background(), d.Digest, 500, -1)
	if err != nil || start != 0 {
		t.Fatalf("start %d, %v", start, err)
	}
	rc.Close()
	if _, _, err := r.GetBlobRange(context.Background(), digest.FromString("absent"), 0, -1); StatusOf(err) != http.StatusNotFound {
		t.Fatalf("missing blob: %v", err)
	}
}

func TestGetBlobRangeBodyStallIsRetryable(t *testing.T) {
	reg := registrytest.New()
	b, d := blob(1000)
	reg.PutBlob("acct/model", b)
	f := newFixture(t, reg, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && req.URL.Path == "/v2/acct/model/blobs/"+d.Digest.String() {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(b[:10])
			w.(http.Flusher).Flush()
			<-req.Context().Done()
			return
		}
		reg.ServeHTTP(w, req)
	}))
	f.c.StallTimeout = 100 * time.Millisecond
	rc, _, err := f.c.Repo(f.repo, Pull).GetBlobRange(context.Background(), d.Digest, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if n != 10 || !errors.Is(err, ErrStalled) || !Retryable(err) {
		t.Fatalf("read %d bytes, %v (retryable %v)", n, err, Retryable(err))
	}
	calls := 0
	err = f.c.Retry(context.Background(), "test", func() (bool, error) {
		calls++
		if calls < 3 {
			return true, err
		}
		return false, nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Retry: %v after %d calls", err, calls)
	}
}
