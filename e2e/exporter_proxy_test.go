//go:build e2e

package e2e

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultProxy sits in front of the real registry. It counts the blob bytes
// clients send and, when told to, injects faults: a share of requests
// answered 500/503, a share answered 429 with Retry-After, PATCH uploads
// whose connection is reset halfway (after forwarding part of the chunk to
// the registry, as a real network drop does), blob downloads reset halfway
// through the body, blob bodies both ways slowed to a rate, and one response
// stalled for longer than the client waits. It can also play a registry with
// chunk limits (OCI-Chunk-Min/Max-Length) or one without chunked uploads.
type faultProxy struct {
	srv       *httptest.Server
	blobBytes atomic.Int64 // request body bytes of blob upload requests
	requests  atomic.Int64

	mu         sync.Mutex
	failRate   float64 // 0..1
	resetEvery int     // reset every Nth PATCH (0: never)
	stallOnce  time.Duration
	patches    int
	injected   map[string]int
	rng        *rand.Rand
	chunkMin   int64   // advertised as OCI-Chunk-Min-Length on new upload sessions
	chunkMax   int64   // advertised as OCI-Chunk-Max-Length on new upload sessions
	tooMany    float64 // 0..1: share of requests answered 429 with Retry-After: 1
	getReset   int     // reset every Nth blob GET halfway through its body (0: never)
	gets       int
	slowRate   int64   // bytes per second of blob bodies, uploads and downloads (0: full speed)
	noChunks   bool    // answer PATCH 405, as a registry without chunked uploads
	patchSizes []int64 // Content-Length of every PATCH seen
}

func newFaultProxy(t *testing.T, registry string) *faultProxy {
	t.Helper()
	target, _ := url.Parse("http://" + registry)
	p := &faultProxy{injected: map[string]int{}, rng: rand.New(rand.NewPCG(1, 2))}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.ModifyResponse = func(resp *http.Response) error {
		p.mu.Lock()
		min, max, rate := p.chunkMin, p.chunkMax, p.slowRate
		p.mu.Unlock()
		if min > 0 && resp.Request.Method == http.MethodPost && resp.StatusCode == http.StatusAccepted {
			resp.Header.Set("OCI-Chunk-Min-Length", strconv.FormatInt(min, 10))
		}
		if max > 0 && resp.Request.Method == http.MethodPost && resp.StatusCode == http.StatusAccepted {
			resp.Header.Set("OCI-Chunk-Max-Length", strconv.FormatInt(max, 10))
		}
		if rate > 0 && isBlobGet(resp.Request) {
			p.count("slow")
			resp.Body = &slowBody{ReadCloser: resp.Body, n: new(atomic.Int64), rate: rate}
		}
		return nil
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		isUpload := strings.Contains(r.URL.Path, "/blobs/uploads/")
		p.mu.Lock()
		if isUpload && r.Body != nil {
			r.Body = &countBody{ReadCloser: r.Body, n: &p.blobBytes}
			if p.slowRate > 0 {
				p.injected["slow"]++
				r.Body = &slowBody{ReadCloser: r.Body, n: new(atomic.Int64), rate: p.slowRate}
			}
		}
		fail := p.failRate > 0 && p.rng.Float64() < p.failRate
		tooMany := !fail && p.tooMany > 0 && p.rng.Float64() < p.tooMany
		getReset := false
		if isBlobGet(r) {
			p.gets++
			getReset = p.getReset > 0 && p.gets%p.getReset == 0
		}
		reset := false
		noChunks := p.noChunks && r.Method == http.MethodPatch
		if r.Method == http.MethodPatch {
			p.patchSizes = append(p.patchSizes, r.ContentLength)
			p.patches++
			reset = p.resetEvery > 0 && p.patches%p.resetEvery == 0
		}
		stall := p.stallOnce
		if stall > 0 && isUpload && r.Method == http.MethodPatch {
			p.stallOnce = 0
		} else {
			stall = 0
		}
		p.mu.Unlock()
		switch {
		case noChunks:
			p.count("405")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		case reset && r.ContentLength > 2:
			p.count("reset")
			p.resetMidBody(w, r, target)
			return
		case stall > 0:
			p.count("stall")
			// Swallow the body and answer nothing for longer than the
			// client's stall timeout; the registry never sees the request.
			io.Copy(io.Discard, r.Body)
			select {
			case <-time.After(stall):
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case getReset:
			p.count("get-reset")
			p.resetResponseMidBody(w, r, target)
			return
		case tooMany:
			p.count("429")
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		case fail:
			code := http.StatusInternalServerError
			if p.rng.IntN(2) == 0 {
				code = http.StatusServiceUnavailable
			}
			p.count("5xx")
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(code)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) count(k string) {
	p.mu.Lock()
	p.injected[k]++
	p.mu.Unlock()
}

func (p *faultProxy) injectedCount(k string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.injected[k]
}

// addr is the proxy's host:port (a loopback address, so clients use HTTP).
func (p *faultProxy) addr() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func (p *faultProxy) set(failRate float64, resetEvery int, stall time.Duration) {
	p.mu.Lock()
	p.failRate, p.resetEvery, p.stallOnce = failRate, resetEvery, stall
	p.mu.Unlock()
}

// setLoad sets the faults of the load tests: 5xx and 429 (Retry-After: 1)
// shares of all requests, every resetEvery-th PATCH and getResetEvery-th
// blob GET reset halfway, and blob bodies both ways slowed to rate bytes a
// second (0: full speed).
func (p *faultProxy) setLoad(failRate, tooMany float64, resetEvery, getResetEvery int, rate int64) {
	p.mu.Lock()
	p.failRate, p.tooMany, p.resetEvery, p.getReset, p.slowRate = failRate, tooMany, resetEvery, getResetEvery, rate
	p.mu.Unlock()
}

func isBlobGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
}

// resetResponseMidBody fetches a blob from the registry, sends the client
// the status, the headers and half the body, then resets the connection.
func (p *faultProxy) resetResponseMidBody(w http.ResponseWriter, r *http.Request, target *url.URL) {
	out, _ := http.NewRequestWithContext(r.Context(), r.Method, target.String()+r.URL.RequestURI(), nil)
	out.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.CopyN(w, resp.Body, resp.ContentLength/2)
	resetClient(w)
}

// resetMidBody forwards the first half of a PATCH body to the registry,
// then drops both connections.
func (p *faultProxy) resetMidBody(w http.ResponseWriter, r *http.Request, target *url.URL) {
	half := r.ContentLength / 2
	pr, pw := io.Pipe()
	out, _ := http.NewRequest(r.Method, target.String()+r.URL.RequestURI(), pr)
	out.Header = r.Header.Clone()
	out.Host = r.Host
	out.ContentLength = r.ContentLength
	done := make(chan struct{})
	tr := &http.Transport{DisableKeepAlives: true}
	go func() {
		defer close(done)
		if resp, err := tr.RoundTrip(out); err == nil {
			resp.Body.Close()
		}
	}()
	io.CopyN(pw, r.Body, half)
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	time.Sleep(50 * time.Millisecond) // let the registry record what it got
	resetClient(w)
}

type countBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// resetClient drops the client's connection with an RST (not a FIN), as a
// network failure mid-transfer would.
func resetClient(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
