package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Defaults of a Client; each is a Client field.
const (
	// DefaultChunkSize: one PATCH per GiB. Fewer, longer requests are
	// fastest (CNCF distribution reopens the upload and reloads its hash
	// state on every PATCH), and resuming does not depend on chunk
	// boundaries: after a drop we ask the registry for its offset, and
	// registries that keep a partial chunk (distribution does) lose nothing.
	// A registry's OCI-Chunk-Max-Length still caps it.
	DefaultChunkSize = 1 << 30
	// DefaultMaxRetries is the retry budget of one operation: failures in a
	// row without forward progress before giving up.
	DefaultMaxRetries = 8
	// DefaultStallTimeout: a request that moves no bytes for this long is
	// abandoned and retried.
	DefaultStallTimeout = 2 * time.Minute
	// DefaultBackoffBase is the first retry delay, doubled each time, with
	// full jitter, capped at maxBackoff.
	DefaultBackoffBase = 200 * time.Millisecond
	// DefaultMaxRetryAfter is the longest Retry-After this client waits; a
	// registry asking for more is an error that says so, not a silent
	// shorter wait.
	DefaultMaxRetryAfter = 2 * time.Minute

	maxBackoff = 10 * time.Second
)

// Access is what a client asks the registry's token service for.
type Access int

const (
	Pull Access = iota
	Push
)

// Client talks to registries. One Client serves many repositories and
// caches one authenticated transport per repository and scope set. The zero
// value is ready to use.
type Client struct {
	Keychain  authn.Keychain    // default authn.DefaultKeychain
	Transport http.RoundTripper // base transport (proxies, timeouts); default DefaultTransport()
	// Hosts decides per host the scheme (HTTPS unless plain HTTP is allowed)
	// and the TLS trust (certs.d, hosts.toml); default: a zero Hosts.
	Hosts *Hosts
	// MaxRetries is the budget of failures in a row without progress; 0
	// means DefaultMaxRetries, a negative value no retries at all.
	MaxRetries    int
	BackoffBase   time.Duration
	MaxRetryAfter time.Duration
	StallTimeout  time.Duration

	ChunkSize  int64  // preferred PATCH size, clamped to OCI-Chunk-Min/Max-Length
	Monolithic bool   // send each blob in one PUT (no chunking)
	StateDir   string // where upload sessions are persisted; "" = not persisted

	// Stats, if set, counts what the client did.
	Stats *Stats
	// Now is the clock tokens are timed by; default time.Now.
	Now func() time.Time

	once  sync.Once
	rt    http.RoundTripper // Transport seen through Hosts
	mu    sync.Mutex
	conns map[string]*conn
	// unreadable are mount sources the registry would not let us read
	// (host/repository): not asked again by this client.
	unreadable sync.Map
}

// Stats counts what a Client did.
type Stats struct {
	BytesSent     atomic.Int64 // blob bytes handed to the network (all attempts)
	BlobsExisting atomic.Int64
	BlobsMounted  atomic.Int64
	BlobsUploaded atomic.Int64
	Retries       atomic.Int64
	Resumed       atomic.Int64 // uploads continued from a persisted or re-queried offset
	TokensRenewed atomic.Int64 // tokens asked for before the one held expired
}

// DefaultTransport is http.DefaultTransport tuned for large bodies.
func DefaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	// The default 4 KiB write buffer turns a multi-GiB body into millions
	// of small writes; 1 MiB keeps the copy loop cheap.
	t.WriteBufferSize = 1 << 20
	t.ReadBufferSize = 64 << 10
	// The transport hands a request body to the connection's ReadFrom,
	// and a TCP connection's ReadFrom copies through 32 KiB (sendfile needs
	// a bare file, and our bodies carry progress and the stall watchdog):
	// 32 reads and writes per MiB. bigWrites copies through 1 MiB.
	dial := (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return bigWrites{c}, nil
	}
	return t
}

// bigWrites is a connection whose ReadFrom copies through a 1 MiB buffer.
type bigWrites struct{ net.Conn }

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// writerOnly hides the connection's own ReadFrom from io.CopyBuffer.
type writerOnly struct{ io.Writer }

func (c bigWrites) ReadFrom(r io.Reader) (int64, error) {
	b := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(b)
	return io.CopyBuffer(writerOnly{c.Conn}, r, *b)
}

// ProbeTransport is http.DefaultTransport with short connection timeouts,
// so an unreachable or silent host fails in seconds, not minutes.
func ProbeTransport(dial time.Duration, concurrency int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = dial
	t.ResponseHeaderTimeout = 10 * time.Second
	t.MaxIdleConnsPerHost = concurrency
	return t
}

func (c *Client) defaults() {
	c.once.Do(func() {
		if c.Keychain == nil {
			c.Keychain = authn.DefaultKeychain
		}
		if c.Transport == nil {
			c.Transport = DefaultTransport()
		}
		if c.Hosts == nil {
			c.Hosts = &Hosts{}
		}
		c.rt = c.Hosts.Transport(c.Transport)
		if c.MaxRetries == 0 {
			c.MaxRetries = DefaultMaxRetries
		}
		if c.StallTimeout <= 0 {
			c.StallTimeout = DefaultStallTimeout
		}
		if c.BackoffBase <= 0 {
			c.BackoffBase = DefaultBackoffBase
		}
		if c.MaxRetryAfter <= 0 {
			c.MaxRetryAfter = DefaultMaxRetryAfter
		}
		if c.ChunkSize <= 0 {
			c.ChunkSize = DefaultChunkSize
		}
		if c.Stats == nil {
			c.Stats = &Stats{}
		}
		if c.Now == nil {
			c.Now = time.Now
		}
	})
}

func (c *Client) now() time.Time { return c.Now() }

// Repo is one repository seen through a Client with the given access. It
// does no I/O until its first request.
type Repo struct {
	c      *Client
	name   name.Repository
	access Access
}

// Repo returns repo seen with access.
func (c *Client) Repo(repo name.Repository, access Access) *Repo {
	c.defaults()
	return &Repo{c: c, name: repo, access: access}
}

// Name is the repository.
func (r *Repo) Name() name.Repository { return r.name }

func (r *Repo) url(path string) string {
	return r.c.Hosts.Scheme(r.name.RegistryStr()) + "://" + r.name.RegistryStr() + "/v2/" + r.name.RepositoryStr() + path
}

// http returns an authenticated client for r with r's access, plus pull on
// each of mountFrom (other repositories of the same registry). The
// credentials go only to r's registry host: go-containerregistry's
// transport attaches them to requests for that host alone, so an upload
// Location or a redirect pointing at a storage host gets none.
func (r *Repo) http(ctx context.Context, mountFrom []string) (*http.Client, error) {
	cn, err := r.conn(ctx, mountFrom)
	if err != nil {
		return nil, err
	}
	return cn.hc, nil
}

func (r *Repo) connKey(mountFrom []string) string {
	return fmt.Sprintf("%s|%d|%s", r.name, r.access, strings.Join(mountFrom, ","))
}

// conn is http's authenticated client with what it knows of its token.
func (r *Repo) conn(ctx context.Context, mountFrom []string) (*conn, error) {
	c := r.c
	key := r.connKey(mountFrom)
	// Concurrent first requests share one handshake (ping, token).
	c.mu.Lock()
	cn := c.conns[key]
	if cn == nil {
		if c.conns == nil {
			c.conns = map[string]*conn{}
		}
		cn = &conn{done: make(chan struct{}), watch: &tokenWatch{base: c.rt, now: c.now}}
		c.conns[key] = cn
		c.mu.Unlock()
		cn.hc, cn.err = r.connect(ctx, mountFrom, cn.watch)
		if cn.err != nil { // not cached: the next request tries again
			c.mu.Lock()
			if c.conns[key] == cn {
				delete(c.conns, key)
			}
			c.mu.Unlock()
		}
		close(cn.done)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-cn.done:
		if cn.err != nil {
			return nil, cn.err
		}
		return cn, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// conn is one authenticated client, or the handshake setting it up.
type conn struct {
	done  chan struct{}
	hc    *http.Client
	err   error
	watch *tokenWatch
}

func (r *Repo) connect(ctx context.Context, mountFrom []string, watch *tokenWatch) (*http.Client, error) {
	c := r.c
	auth, err := c.Keychain.Resolve(r.name.Registry)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s (from %s): %w", r.name.RegistryStr(), DockerConfigFile(), err)
	}
	scope := transport.PullScope
	if r.access == Push {
		scope = transport.PushScope
	}
	scopes := []string{r.name.Scope(scope)}
	for _, f := range mountFrom {
		scopes = append(scopes, "repository:"+f+":pull")
	}
	reg := r.name.Registry
	if c.Hosts.PlainHTTP(reg.RegistryStr()) {
		// go-containerregistry's ping tries plain HTTP only for registries
		// marked insecure (or at private addresses, which Hosts upgrades).
		if ir, err := name.NewRegistry(reg.RegistryStr(), name.Insecure); err == nil {
			reg = ir
		}
	}
	var rt http.RoundTripper
	err = c.retry(ctx, "connect to "+r.name.RegistryStr(), func() (bool, error) {
		var err error
		rt, err = transport.NewWithContext(ctx, reg, auth, watch, scopes)
		// The ping of a plain-HTTP host fails over HTTPS first; when the
		// HTTP fallback got the registry's answer, that is the error.
		var te *transport.Error
		if err != nil && reg.Scheme() == "http" && errors.As(err, &te) {
			err = te
		}
		return false, err
	})
	if err != nil {
		return nil, r.explain(err)
	}
	return &http.Client{
		Transport: rt,
		// A blob HEAD may be answered with a redirect to storage (S3, a
		// CDN) that refuses HEAD on a GET-signed URL; the redirect itself
		// already says the registry has the blob.
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.Method == http.MethodHead {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}, nil
}

// retry runs f until it succeeds, returns a permanent error, or the budget
// of failures is spent. f returns (progress, err): progress resets the
// budget, so a long upload that keeps advancing between faults completes.
// A wait the registry asks for (Retry-After) replaces the backoff and
// counts against the same budget.
func (c *Client) retry(ctx context.Context, what string, f func() (bool, error)) error {
	failures := 0
	for {
		progressed, err := f()
		if err == nil {
			return nil
		}
		if !Retryable(err) || c.MaxRetries < 0 {
			return fmt.Errorf("%s: %w", what, err)
		}
		if progressed {
			failures = 0
		}
		failures++
		if failures > c.MaxRetries {
			return fmt.Errorf("%s: giving up after %d failed attempts: %w", what, failures, err)
		}
		d, err := c.delay(failures, err)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		c.Stats.Retries.Add(1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// delay is how long to wait before attempt failures+1.
func (c *Client) delay(failures int, err error) (time.Duration, error) {
	if errors.Is(err, errRetryNow) {
		return 0, nil
	}
	if ra := retryAfter(err); ra > 0 {
		if ra > c.MaxRetryAfter {
			return 0, fmt.Errorf("registry asks to retry after %s, longer than the %s this client waits: %w", ra, c.MaxRetryAfter, err)
		}
		return ra, nil
	}
	d := c.BackoffBase << (failures - 1)
	if d > maxBackoff || d <= 0 {
		d = maxBackoff
	}
	return time.Duration(rand.Int64N(int64(d)) + 1), nil // full jitter
}

// watchdog cancels a request when no bytes move for the stall timeout.
type watchdog struct {
	t      *time.Timer
	cancel context.CancelCauseFunc
	d      time.Duration
}

func (c *Client) watch(ctx context.Context) (context.Context, *watchdog) {
	cctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{cancel: cancel, d: c.StallTimeout}
	w.t = time.AfterFunc(w.d, func() { cancel(ErrStalled) })
	return cctx, w
}
func (w *watchdog) kick() { w.t.Reset(w.d) }
func (w *watchdog) stop() { w.t.Stop(); w.cancel(nil) }

// kickReader resets the watchdog whenever bytes move.
type kickReader struct {
	r  io.Reader
	wd *watchdog
}

func (k *kickReader) Read(b []byte) (int, error) {
	n, err := k.r.Read(b)
	if n > 0 {
		k.wd.kick()
	}
	return n, err
}

// maxResponse bounds the bodies do reads: registry answers to these calls
// (errors, manifests) are small; the distribution spec lets registries
// refuse manifests over 4 MiB.
const maxResponse = 4<<20 + 1

// do sends one request under the stall watchdog and returns the response
// and its body, read in full. A status outside want is an *Error.
func (c *Client) do(ctx context.Context, hc *http.Client, method, u string, hdr http.Header, body io.Reader, length int64, want ...int) (*http.Response, []byte, error) {
	wctx, wd := c.watch(ctx)
	defer wd.stop()
	expect := false
	if body != nil {
		body = &kickReader{r: body, wd: wd}
		if length > 0 {
			// go-containerregistry's transport answers a 401 (an expired
			// token) by fetching a new token and sending the same request
			// again, body and all. "Expect: 100-continue" keeps the body
			// unsent until the registry has accepted the token, so the
			// resend carries it whole; onceBody refuses a resend of a body
			// already partly sent, which would put the wrong bytes at the
			// offset Content-Range names.
			body = &onceBody{r: body}
			expect = true
		}
	}
	req, err := http.NewRequestWithContext(wctx, method, u, body)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.ContentLength = length
		if length == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if expect {
		req.Header.Set("Expect", "100-continue")
	}
	stalled := func(err error) error {
		if errors.Is(context.Cause(wctx), ErrStalled) {
			return fmt.Errorf("%s %s: %w", method, stripQuery(u), ErrStalled)
		}
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, stalled(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(&kickReader{r: resp.Body, wd: wd}, maxResponse))
	if err != nil {
		return nil, nil, stalled(err)
	}
	return resp, b, checkResponse(resp, b, want...)
}

// errBodyResent is a request body asked for again after part of it was sent.
var errBodyResent = errors.New("request body already partly sent; not resending it in the same request")

// onceBody is a request body that may be re-read from its start only while
// none of it was read.
type onceBody struct {
	r      io.Reader
	n      int64
	closed bool
	mu     sync.Mutex
}

func (o *onceBody) Read(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed && o.n > 0 {
		return 0, errBodyResent
	}
	o.closed = false
	n, err := o.r.Read(b)
	o.n += int64(n)
	return n, err
}

func (o *onceBody) Close() error {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	return nil
}
