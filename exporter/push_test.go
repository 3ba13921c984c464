package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
)

func TestParseRangeEnd(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0-0": 0, "0-99": 100, "bytes=0-1023": 1024} {
		got, err := parseRangeEnd(in)
		if err != nil || got != want {
			t.Errorf("parseRangeEnd(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseRangeEnd("garbage"); err == nil {
		t.Error("invalid Range accepted")
	}
}

func TestChunkSizeHonoursRegistryLimits(t *testing.T) {
	p := &Pusher{ChunkSize: 10 << 20}
	u := &blobUpload{p: p}
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

func TestRetryableClassification(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&httpError{Status: 500}, true},
		{&httpError{Status: 503}, true},
		{&httpError{Status: 429}, true},
		{&httpError{Status: 404}, false},
		{&httpError{Status: 401}, false},
		{&httpError{Method: "PATCH", Status: 416}, true},
		{&httpError{Method: "PUT", Status: 416}, false},
		{fmt.Errorf("write: %w", syscall.ECONNRESET), true},
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("PATCH x: %w", errStalled), true},
		{context.Canceled, false},
		{errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), false},
	}
	for _, c := range cases {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRetryBudgetIsBounded(t *testing.T) {
	p := &Pusher{MaxRetries: 3, BackoffBase: 1}
	calls := 0
	err := p.retry(context.Background(), "x", func() (bool, error) {
		calls++
		return false, &httpError{Method: http.MethodGet, URL: "u", Status: 503}
	})
	if err == nil || calls != 4 {
		t.Errorf("after %d calls: %v; want failure after 1 try + 3 retries", calls, err)
	}
	// Progress between failures resets the budget.
	calls = 0
	err = p.retry(context.Background(), "x", func() (bool, error) {
		calls++
		if calls == 10 {
			return true, nil
		}
		return true, &httpError{Status: 500}
	})
	if err != nil || calls != 10 {
		t.Errorf("with progress: %d calls, %v", calls, err)
	}
}
