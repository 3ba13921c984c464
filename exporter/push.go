package exporter

// The push engine. go-containerregistry's remote.Write does HEAD, mounts and
// parallel uploads, but it sends each blob in a single streamed PATCH, and on
// any failure restarts the blob from byte 0 in a new session; it has no
// chunking that honours OCI-Chunk-Min/Max-Length, no way to ask the registry
// for an upload's offset after a dropped connection, and no upload session
// that outlives the process. Multi-GiB weights need all three, so blob
// uploads are done here, over go-containerregistry's authenticating
// transport (Docker config, credential helpers, bearer token exchange).

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Defaults of the push engine; each is a Pusher field.
const (
	// DefaultChunkSize: one PATCH per GiB. Fewer, longer requests are
	// fastest (CNCF distribution reopens the upload and reloads its hash
	// state on every PATCH), and resuming does not depend on chunk
	// boundaries: after a drop we ask the registry for its offset, and
	// registries that keep a partial chunk (distribution does) lose nothing.
	// A registry's OCI-Chunk-Max-Length still caps it.
	DefaultChunkSize   = 1 << 30
	DefaultConcurrency = 4
	// DefaultMaxRetries is the retry budget of one blob or manifest:
	// failures in a row without forward progress before giving up.
	DefaultMaxRetries = 8
	// DefaultStallTimeout: a request that moves no bytes for this long is
	// abandoned and retried.
	DefaultStallTimeout = 2 * time.Minute
)

// Pusher pushes bundles and blobs to registries.
type Pusher struct {
	Keychain     authn.Keychain    // default authn.DefaultKeychain
	Transport    http.RoundTripper // base transport; default a clone of http.DefaultTransport
	Concurrency  int               // blobs uploaded at once
	ChunkSize    int64             // preferred PATCH size, clamped to the registry's OCI-Chunk-Min/Max-Length
	Monolithic   bool              // send each blob in one PUT (no chunking)
	StateDir     string            // where upload sessions are persisted; "" = not persisted
	MaxRetries   int
	StallTimeout time.Duration
	BackoffBase  time.Duration // first retry delay (default 200ms), doubled each time, full jitter, capped at 10s
	// MountFrom names other repositories of the same registry known to hold
	// a blob; they are tried as cross-repository mounts before uploading.
	MountFrom func(d digest.Digest) []string
	Progress  func(Progress)

	Stats Stats

	mu      sync.Mutex
	clients map[string]*http.Client
}

// Stats counts what a Pusher did.
type Stats struct {
	BytesSent     atomic.Int64 // blob bytes handed to the network (all attempts)
	BlobsExisting atomic.Int64
	BlobsMounted  atomic.Int64
	BlobsUploaded atomic.Int64
	Retries       atomic.Int64
	Resumed       atomic.Int64 // uploads continued from a persisted or re-queried offset
}

// Progress reports one blob's upload.
type Progress struct {
	ID      digest.Digest
	Name    string
	Current int64
	Total   int64
	Status  string // "checking", "exists", "mounted", "uploading", "done"
	Started time.Time
	Done    bool
}

// PushResult says what a push published.
type PushResult struct {
	Ref          name.Tag
	Index        ocispec.Descriptor
	Images       []Tagged
	Attestations []ocispec.Descriptor
	Weights      []Tagged
}

// Tagged is a manifest and the tag it was pushed under.
type Tagged struct {
	Tag        string
	Descriptor ocispec.Descriptor
	Name       string // weight name
}

func (p *Pusher) defaults() {
	if p.Keychain == nil {
		p.Keychain = authn.DefaultKeychain
	}
	if p.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		// The default 4 KiB write buffer turns a multi-GiB body into
		// millions of small writes; 1 MiB keeps the copy loop cheap.
		t.WriteBufferSize = 1 << 20
		t.ReadBufferSize = 64 << 10
		p.Transport = t
	}
	if p.Concurrency <= 0 {
		p.Concurrency = DefaultConcurrency
	}
	if p.ChunkSize <= 0 {
		p.ChunkSize = DefaultChunkSize
	}
	if p.MaxRetries <= 0 {
		p.MaxRetries = DefaultMaxRetries
	}
	if p.StallTimeout <= 0 {
		p.StallTimeout = DefaultStallTimeout
	}
	if p.BackoffBase <= 0 {
		p.BackoffBase = 200 * time.Millisecond
	}
}

// Push publishes b at ref: all blobs (only those missing), then the image,
// attestation and weight manifests, then the index. The image is tagged
// cog-image.<tag>, each weight cog-weight.<name>.<set12>, the index <tag>.
func (p *Pusher) Push(ctx context.Context, b *Bundle, ref name.Tag) (*PushResult, error) {
	p.defaults()
	if err := ValidateUserTag(ref.TagStr()); err != nil {
		return nil, err
	}
	repo := ref.Context()
	blobs, manifests, err := b.contents(ctx)
	if err != nil {
		return nil, err
	}
	labels := map[digest.Digest]string{}
	for _, w := range b.Weights {
		labels[w.Config.Descriptor.Digest] = "weight " + w.Name + " config"
		for i, l := range w.Layers {
			labels[l.Descriptor.Digest] = fmt.Sprintf("weight %s layer %d/%d", w.Name, i+1, len(w.Layers))
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.Concurrency)
	for _, n := range blobs {
		label := labels[n.desc.Digest]
		if label == "" {
			label = "image blob " + short(n.desc.Digest)
		}
		g.Go(func() error {
			var from []string
			if n.from != nil {
				if src := n.from.Repository(); src.RegistryStr() == repo.RegistryStr() && src.RepositoryStr() != repo.RepositoryStr() {
					from = append(from, src.RepositoryStr())
				}
			}
			return p.pushBlob(gctx, repo, n.desc, label, n.reader, from)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	res := &PushResult{Ref: ref, Index: b.Index, Attestations: b.Attestations}
	tagFor := map[digest.Digest]Tagged{}
	if len(b.Images) > 0 {
		t := Tagged{Tag: ImageTag(ref.TagStr()), Descriptor: b.Images[0]}
		tagFor[b.Images[0].Digest] = t
		res.Images = append(res.Images, t)
		for _, d := range b.Images[1:] {
			res.Images = append(res.Images, Tagged{Descriptor: d})
		}
	}
	for i, w := range b.Weights {
		t := Tagged{Tag: WeightTag(w.Name, w.SetDigest), Descriptor: b.WeightDescs[i], Name: w.Name}
		tagFor[t.Descriptor.Digest] = t
		res.Weights = append(res.Weights, t)
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(p.Concurrency)
	for _, m := range manifests {
		g.Go(func() error {
			target := m.desc.Digest.String()
			if t, ok := tagFor[m.desc.Digest]; ok {
				target = t.Tag
			}
			return p.putManifest(gctx, repo, target, m.desc, m.bytes)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := p.putManifest(ctx, repo, ref.TagStr(), b.Index, b.IndexBytes); err != nil {
		return nil, err
	}
	return res, nil
}

func short(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// client returns an authenticated HTTP client for repo with push scope
// (and pull scope on mount sources).
func (p *Pusher) client(ctx context.Context, repo name.Repository, mountFrom []string) (*http.Client, error) {
	key := repo.String() + "|" + strings.Join(mountFrom, ",")
	p.mu.Lock()
	c := p.clients[key]
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	auth, err := p.Keychain.Resolve(repo.Registry)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo.RegistryStr(), err)
	}
	scopes := []string{repo.Scope(transport.PushScope)}
	for _, f := range mountFrom {
		scopes = append(scopes, "repository:"+f+":pull")
	}
	var rt http.RoundTripper
	err = p.retry(ctx, "connect to "+repo.RegistryStr(), func() (bool, error) {
		var err error
		rt, err = transport.NewWithContext(ctx, repo.Registry, auth, p.Transport, scopes)
		return err == nil, err
	})
	if err != nil {
		return nil, err
	}
	c = &http.Client{Transport: rt}
	p.mu.Lock()
	if p.clients == nil {
		p.clients = map[string]*http.Client{}
	}
	p.clients[key] = c
	p.mu.Unlock()
	return c, nil
}

// retry runs f until it succeeds, returns a permanent error, or the budget
// of failures is spent. f returns (progress, err): progress resets the
// budget, so a long upload that keeps advancing between faults completes.
func (p *Pusher) retry(ctx context.Context, what string, f func() (bool, error)) error {
	failures := 0
	for {
		progressed, err := f()
		if err == nil {
			return nil
		}
		if !retryable(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if progressed {
			failures = 0
		}
		failures++
		if failures > p.MaxRetries {
			return fmt.Errorf("%s: giving up after %d failed attempts: %w", what, failures, err)
		}
		p.Stats.Retries.Add(1)
		d := p.BackoffBase << (failures - 1)
		if d > 10*time.Second || d <= 0 {
			d = 10 * time.Second
		}
		d = time.Duration(rand.Int64N(int64(d)) + 1) // full jitter
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// httpError is a registry response that was not the one expected.
type httpError struct {
	Method, URL string
	Status      int
	Body        string
	RetryAfter  time.Duration
}

func (e *httpError) Error() string {
	u := e.URL
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i] // query strings of upload URLs carry session state; keep logs short
	}
	return fmt.Sprintf("%s %s: %d %s %s", e.Method, u, e.Status, http.StatusText(e.Status), strings.TrimSpace(e.Body))
}

var errStalled = errors.New("no bytes moved within the stall timeout")

func retryable(err error) bool {
	if err == nil {
		return false
	}
	var he *httpError
	if errors.As(err, &he) {
		// A 416 on PATCH means our offset and the registry's disagree, e.g.
		// the registry was still storing the body of a request whose
		// connection dropped when we asked for the offset. The upload loop
		// asks again and continues from the registry's answer.
		offsetMismatch := he.Status == http.StatusRequestedRangeNotSatisfiable && he.Method == http.MethodPatch
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests || he.Status == http.StatusRequestTimeout || offsetMismatch
	}
	if errors.Is(err, context.Canceled) {
		// a request cancelled by our stall watchdog, not by the caller
		return errors.Is(err, errStalled)
	}
	if errors.Is(err, errStalled) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	// A certificate or protocol problem will not go away by retrying.
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) || strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "HTTP response to HTTPS client") {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// watchdog cancels a request when no bytes move for the stall timeout.
type watchdog struct {
	t      *time.Timer
	cancel context.CancelCauseFunc
	d      time.Duration
}

func (p *Pusher) watch(ctx context.Context) (context.Context, *watchdog) {
	cctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{cancel: cancel, d: p.StallTimeout}
	w.t = time.AfterFunc(w.d, func() { cancel(errStalled) })
	return cctx, w
}
func (w *watchdog) kick() { w.t.Reset(w.d) }
func (w *watchdog) stop() { w.t.Stop(); w.cancel(nil) }

// do sends one request under the stall watchdog and returns the response
// with its body read (registry responses to these calls are small).
func (p *Pusher) do(ctx context.Context, c *http.Client, method, u string, hdr http.Header, body io.Reader, length int64, want ...int) (*http.Response, error) {
	wctx, wd := p.watch(ctx)
	defer wd.stop()
	if body != nil {
		body = &kickReader{r: body, wd: wd}
	}
	req, err := http.NewRequestWithContext(wctx, method, u, body)
	if err != nil {
		return nil, err
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
	resp, err := c.Do(req)
	if err != nil {
		if cause := context.Cause(wctx); errors.Is(cause, errStalled) {
			return nil, fmt.Errorf("%s %s: %w", method, stripQuery(u), errStalled)
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(&kickReader{r: resp.Body, wd: wd}, 64<<10))
	if err != nil {
		if cause := context.Cause(wctx); errors.Is(cause, errStalled) {
			return nil, fmt.Errorf("%s %s: %w", method, stripQuery(u), errStalled)
		}
		return nil, err
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	he := &httpError{Method: method, URL: u, Status: resp.StatusCode, Body: string(b)}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		he.RetryAfter = time.Duration(s) * time.Second
	}
	return resp, he
}

func stripQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

type kickReader struct {
	r  io.Reader
	wd *watchdog
	n  int64
	on func(int)
}

func (k *kickReader) Read(b []byte) (int, error) {
	n, err := k.r.Read(b)
	if n > 0 {
		k.wd.kick()
		k.n += int64(n)
		if k.on != nil {
			k.on(n)
		}
	}
	return n, err
}

func registryURL(repo name.Repository, path string) string {
	return repo.Registry.Scheme() + "://" + repo.RegistryStr() + "/v2/" + repo.RepositoryStr() + path
}

// putManifest uploads a manifest under target (tag or digest), skipping the
// upload when target is its digest and the registry already has it.
func (p *Pusher) putManifest(ctx context.Context, repo name.Repository, target string, d ocispec.Descriptor, raw []byte) error {
	c, err := p.client(ctx, repo, nil)
	if err != nil {
		return err
	}
	u := registryURL(repo, "/manifests/"+target)
	if target == d.Digest.String() {
		exists := false
		err := p.retry(ctx, "HEAD manifest "+target, func() (bool, error) {
			resp, err := p.do(ctx, c, http.MethodHead, u, http.Header{"Accept": {d.MediaType}}, nil, 0, 200, 404)
			if err == nil {
				exists = resp.StatusCode == 200
			}
			return false, err
		})
		if err != nil {
			return err
		}
		if exists {
			return nil
		}
	}
	return p.retry(ctx, "PUT manifest "+repo.String()+":"+target, func() (bool, error) {
		_, err := p.do(ctx, c, http.MethodPut, u, http.Header{"Content-Type": {d.MediaType}}, strings.NewReader(string(raw)), int64(len(raw)), 201, 200)
		return false, err
	})
}

// BlobExists reports whether repo already holds d.
func (p *Pusher) BlobExists(ctx context.Context, repo name.Repository, d digest.Digest) (bool, error) {
	p.defaults()
	c, err := p.client(ctx, repo, nil)
	if err != nil {
		return false, err
	}
	exists := false
	err = p.retry(ctx, "HEAD blob "+short(d), func() (bool, error) {
		resp, err := p.do(ctx, c, http.MethodHead, registryURL(repo, "/blobs/"+d.String()), nil, nil, 0, 200, 404)
		if err == nil {
			exists = resp.StatusCode == 200
		}
		return false, err
	})
	return exists, err
}

// PushBlob uploads one blob to repo unless it is already there.
func (p *Pusher) PushBlob(ctx context.Context, repo name.Repository, d ocispec.Descriptor, label string, open func(context.Context) (io.ReadCloser, error)) error {
	p.defaults()
	return p.pushBlob(ctx, repo, d, label, open, nil)
}

// uploadState is the persisted upload session of one blob.
type uploadState struct {
	Location string `json:"location"`
	Digest   string `json:"digest"`
	Size     int64  `json:"size"`
	Offset   int64  `json:"offset"`
	Chunk    int64  `json:"chunk"`
}

func (p *Pusher) statePath(repo name.Repository, d digest.Digest) string {
	if p.StateDir == "" {
		return ""
	}
	reg := strings.NewReplacer(":", "_", "/", "_").Replace(repo.RegistryStr())
	return filepath.Join(p.StateDir, "uploads", reg, filepath.FromSlash(repo.RepositoryStr()), d.Encoded()+".json")
}

func (p *Pusher) saveState(path string, s uploadState) {
	if path == "" {
		return
	}
	b, _ := json.Marshal(s)
	if os.MkdirAll(filepath.Dir(path), 0o700) == nil {
		_ = atomicfile.WriteFile(path, b, 0o644) // best effort: losing it only costs a restart
	}
}

func (p *Pusher) loadState(path string, d ocispec.Descriptor) (uploadState, bool) {
	var s uploadState
	if path == "" {
		return s, false
	}
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &s) != nil || s.Digest != d.Digest.String() || s.Size != d.Size || s.Location == "" {
		return s, false
	}
	return s, true
}

func (p *Pusher) report(pr Progress) {
	if p.Progress != nil {
		p.Progress(pr)
	}
}

func (p *Pusher) pushBlob(ctx context.Context, repo name.Repository, d ocispec.Descriptor, label string, open func(context.Context) (io.ReadCloser, error), mountFrom []string) error {
	if p.MountFrom != nil {
		for _, r := range p.MountFrom(d.Digest) {
			if r != repo.RepositoryStr() {
				mountFrom = append(mountFrom, r)
			}
		}
	}
	started := time.Now()
	pr := Progress{ID: d.Digest, Name: label, Total: d.Size, Started: started, Status: "checking"}
	p.report(pr)
	exists, err := p.BlobExists(ctx, repo, d.Digest)
	if err != nil {
		return err
	}
	if exists {
		p.Stats.BlobsExisting.Add(1)
		pr.Status, pr.Current, pr.Done = "exists", d.Size, true
		p.report(pr)
		return nil
	}
	c, err := p.client(ctx, repo, mountFrom)
	if err != nil {
		return err
	}
	u := &blobUpload{p: p, c: c, repo: repo, d: d, open: open, pr: pr, statePath: p.statePath(repo, d.Digest)}
	if err := u.run(ctx, mountFrom); err != nil {
		return fmt.Errorf("push %s (%s) to %s: %w", label, d.Digest, repo, err)
	}
	return nil
}

// blobUpload is one blob's upload session.
type blobUpload struct {
	p         *Pusher
	c         *http.Client
	repo      name.Repository
	d         ocispec.Descriptor
	open      func(context.Context) (io.ReadCloser, error)
	pr        Progress
	statePath string

	location string
	offset   int64
	chunkMin int64
	chunkMax int64

	r    io.ReadCloser
	rOff int64
}

func (u *blobUpload) run(ctx context.Context, mountFrom []string) error {
	defer func() {
		if u.r != nil {
			u.r.Close()
		}
	}()
	// 1. An upload session left by an earlier run (killed or failed).
	if s, ok := u.p.loadState(u.statePath, u.d); ok {
		u.location = s.Location
		if err := u.status(ctx); err == nil {
			u.p.Stats.Resumed.Add(1)
		} else {
			u.location, u.offset = "", 0
		}
	}
	// 2. A cross-repository mount, or a new session.
	if u.location == "" {
		mounted, err := u.start(ctx, mountFrom)
		if err != nil {
			return err
		}
		if mounted {
			u.p.Stats.BlobsMounted.Add(1)
			u.pr.Status, u.pr.Current, u.pr.Done = "mounted", u.d.Size, true
			u.p.report(u.pr)
			return nil
		}
	}
	u.pr.Status = "uploading"
	// 3. Send the bytes.
	monolithic := u.p.Monolithic
	err := u.p.retry(ctx, "upload", func() (bool, error) {
		if u.location == "" { // the session was lost (404): start again
			if _, err := u.start(ctx, nil); err != nil {
				return false, err
			}
		}
		before := u.offset
		var err error
		if monolithic {
			err = u.putWhole(ctx)
		} else {
			err = u.patchAll(ctx)
			var he *httpError
			if errors.As(err, &he) && before == 0 && u.offset == 0 && (he.Status == 405 || he.Status == 501 || he.Status == 400 || he.Status == 416) {
				// The registry takes no chunked uploads: fall back to one PUT
				// in a fresh session.
				monolithic = true
				u.location, u.offset = "", 0
				u.clearState()
				return true, &httpError{Method: he.Method, URL: he.URL, Status: 503, Body: "chunked upload refused; retrying as a monolithic PUT"}
			}
		}
		if err == nil {
			return true, nil
		}
		u.closeReader()
		if !retryable(err) {
			return false, err
		}
		// Ask the registry where the session stands and continue from there.
		if serr := u.status(ctx); serr != nil {
			var he *httpError
			if errors.As(serr, &he) && (he.Status == 404 || he.Status == 400) {
				u.location, u.offset = "", 0
				u.clearState()
			}
		} else {
			u.p.Stats.Resumed.Add(1)
		}
		return u.offset > before, err
	})
	if err != nil {
		return err
	}
	u.clearState()
	u.p.Stats.BlobsUploaded.Add(1)
	u.pr.Status, u.pr.Current, u.pr.Done = "done", u.d.Size, true
	u.p.report(u.pr)
	return nil
}

func (u *blobUpload) clearState() {
	if u.statePath != "" {
		os.Remove(u.statePath)
	}
}

func (u *blobUpload) closeReader() {
	if u.r != nil {
		u.r.Close()
		u.r = nil
	}
}

// reader returns the blob's content positioned at u.offset, reusing the
// open reader when it is already there (the common case: consecutive
// chunks read the file once, front to back).
func (u *blobUpload) reader(ctx context.Context) (io.Reader, error) {
	if u.r != nil && u.rOff == u.offset {
		return u.r, nil
	}
	u.closeReader()
	rc, err := u.open(ctx)
	if err != nil {
		return nil, err
	}
	if u.offset > 0 {
		if s, ok := rc.(io.Seeker); ok {
			if _, err := s.Seek(u.offset, io.SeekStart); err != nil {
				rc.Close()
				return nil, err
			}
		} else if _, err := io.CopyN(io.Discard, rc, u.offset); err != nil {
			rc.Close()
			return nil, err
		}
	}
	u.r, u.rOff = rc, u.offset
	return rc, nil
}

func (u *blobUpload) resolve(loc string) (string, error) {
	base, err := url.Parse(registryURL(u.repo, "/blobs/uploads/"))
	if err != nil {
		return "", err
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("registry sent an invalid upload Location: %w", err)
	}
	return base.ResolveReference(l).String(), nil
}

// start opens an upload session, trying mounts first. It reports whether a
// mount completed the blob.
func (u *blobUpload) start(ctx context.Context, mountFrom []string) (bool, error) {
	var resp *http.Response
	for i, from := range mountFrom {
		q := url.Values{"mount": {u.d.Digest.String()}, "from": {from}}
		err := u.p.retry(ctx, "mount", func() (bool, error) {
			var err error
			resp, err = u.p.do(ctx, u.c, http.MethodPost, registryURL(u.repo, "/blobs/uploads/?"+q.Encode()), nil, strings.NewReader(""), 0, 201, 202)
			return false, err
		})
		if err != nil {
			return false, err
		}
		if resp.StatusCode == 201 {
			return true, nil
		}
		// 202: the mount was refused and a fresh session opened. Use it
		// after the last candidate; before that, cancel it and try the next.
		if i == len(mountFrom)-1 {
			return false, u.session(resp)
		}
		if loc, err := u.resolve(resp.Header.Get("Location")); err == nil {
			_, _ = u.p.do(ctx, u.c, http.MethodDelete, loc, nil, nil, 0, 204, 404)
		}
	}
	err := u.p.retry(ctx, "start upload", func() (bool, error) {
		var err error
		resp, err = u.p.do(ctx, u.c, http.MethodPost, registryURL(u.repo, "/blobs/uploads/"), nil, strings.NewReader(""), 0, 202)
		return false, err
	})
	if err != nil {
		return false, err
	}
	return false, u.session(resp)
}

func (u *blobUpload) session(resp *http.Response) error {
	loc, err := u.resolve(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	u.location, u.offset = loc, 0
	if v, err := strconv.ParseInt(resp.Header.Get("OCI-Chunk-Min-Length"), 10, 64); err == nil && v > 0 {
		u.chunkMin = v
	}
	if v, err := strconv.ParseInt(resp.Header.Get("OCI-Chunk-Max-Length"), 10, 64); err == nil && v > 0 {
		u.chunkMax = v
	}
	u.save()
	return nil
}

func (u *blobUpload) save() {
	u.p.saveState(u.statePath, uploadState{Location: u.location, Digest: u.d.Digest.String(), Size: u.d.Size, Offset: u.offset, Chunk: u.chunkMin})
}

// status asks the registry how much of the session it holds (GET on the
// upload URL, Range: 0-<last byte>) and adopts the Location it returns.
func (u *blobUpload) status(ctx context.Context) error {
	resp, err := u.p.do(ctx, u.c, http.MethodGet, u.location, nil, nil, 0, 204)
	if err != nil {
		return err
	}
	off, err := parseRangeEnd(resp.Header.Get("Range"))
	if err != nil {
		return err
	}
	if off > u.d.Size {
		return &httpError{Method: "GET", URL: u.location, Status: 400, Body: "registry holds more bytes than the blob has"}
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if l, err := u.resolve(loc); err == nil {
			u.location = l
		}
	}
	u.offset = off
	u.save()
	return nil
}

// parseRangeEnd turns "0-N" (inclusive) into the next offset N+1. "0-0" is
// read as nothing received: registries use it for an empty session, and a
// one-byte session re-sent costs one byte.
func parseRangeEnd(r string) (int64, error) {
	if r == "" {
		return 0, nil
	}
	r = strings.TrimPrefix(r, "bytes=")
	_, end, ok := strings.Cut(r, "-")
	if !ok {
		return 0, fmt.Errorf("registry sent an invalid upload Range %q", r)
	}
	n, err := strconv.ParseInt(end, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("registry sent an invalid upload Range %q", r)
	}
	if n == 0 {
		return 0, nil
	}
	return n + 1, nil
}

func (u *blobUpload) chunkSize() int64 {
	n := u.p.ChunkSize
	if u.chunkMin > 0 && n < u.chunkMin {
		n = u.chunkMin
	}
	if u.chunkMax > 0 && n > u.chunkMax {
		n = u.chunkMax
	}
	return n
}

func (u *blobUpload) progress(n int) {
	u.p.Stats.BytesSent.Add(int64(n))
	u.pr.Current += int64(n)
	u.p.report(u.pr)
}

// patchAll sends the rest of the blob in chunks, then commits with PUT.
func (u *blobUpload) patchAll(ctx context.Context) error {
	for u.offset < u.d.Size {
		n := u.chunkSize()
		if rest := u.d.Size - u.offset; n > rest {
			n = rest
		}
		r, err := u.reader(ctx)
		if err != nil {
			return err
		}
		u.pr.Current = u.offset
		body := &countingReader{r: io.LimitReader(r, n), on: u.progress}
		hdr := http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", u.offset, u.offset+n-1)},
		}
		resp, err := u.p.do(ctx, u.c, http.MethodPatch, u.location, hdr, body, n, 202, 204)
		u.rOff += body.n
		if err != nil {
			return err
		}
		if body.n != n {
			return io.ErrUnexpectedEOF
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			if l, err := u.resolve(loc); err == nil {
				u.location = l
			}
		}
		u.offset += n
		if end, err := parseRangeEnd(resp.Header.Get("Range")); err == nil && end > 0 && end != u.offset {
			// The registry disagrees about how much it has: trust it.
			u.offset = end
			u.closeReader()
		}
		u.save()
	}
	return u.commit(ctx, nil, 0)
}

// putWhole sends the blob in one PUT (for registries without chunking).
func (u *blobUpload) putWhole(ctx context.Context) error {
	u.offset = 0
	u.closeReader()
	r, err := u.reader(ctx)
	if err != nil {
		return err
	}
	u.pr.Current = 0
	body := &countingReader{r: io.LimitReader(r, u.d.Size), on: u.progress}
	err = u.commit(ctx, body, u.d.Size)
	u.closeReader()
	return err
}

func (u *blobUpload) commit(ctx context.Context, body io.Reader, n int64) error {
	cu, err := url.Parse(u.location)
	if err != nil {
		return err
	}
	q := cu.Query()
	q.Set("digest", u.d.Digest.String())
	cu.RawQuery = q.Encode()
	if body == nil {
		body = strings.NewReader("")
	}
	_, err = u.p.do(ctx, u.c, http.MethodPut, cu.String(), http.Header{"Content-Type": {"application/octet-stream"}}, body, n, 201, 204)
	return err
}

type countingReader struct {
	r  io.Reader
	n  int64
	on func(int)
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 {
		c.n += int64(n)
		if c.on != nil {
			c.on(n)
		}
	}
	return n, err
}
