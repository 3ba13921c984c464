package registry

// The blob upload is this package's own rather than go-containerregistry's
// remote.WriteLayer: that sends a blob in one streamed PATCH and, on any
// failure, starts over from byte 0 in a new session. It has no chunking that
// honours OCI-Chunk-Min/Max-Length, no way to ask the registry for a
// session's offset after a dropped connection, and no session that outlives
// the process. Multi-GiB weights need all three.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
)

// Outcome says how a blob got into the repository.
type Outcome int

const (
	Existed Outcome = iota
	Mounted
	Uploaded
)

// Opener opens a blob's content from its start.
type Opener func(ctx context.Context) (io.ReadCloser, error)

// Progress reports a blob push: status is "checking", "exists", "mounted",
// "uploading" or "done"; current is bytes the registry has or is being sent.
type Progress func(status string, current int64)

// PushBlob puts d into the repository unless it is there already: HEAD,
// then a session left by an earlier run, then each mount candidate (other
// repositories of the same registry), then a new upload. A refused mount
// falls back to the upload.
func (r *Repo) PushBlob(ctx context.Context, d ocispec.Descriptor, open Opener, mountFrom []string, progress Progress) (Outcome, error) {
	o, err := r.pushBlob(ctx, d, open, mountFrom, progress)
	return o, r.explain(err)
}

func (r *Repo) pushBlob(ctx context.Context, d ocispec.Descriptor, open Opener, mountFrom []string, progress Progress) (Outcome, error) {
	if progress == nil {
		progress = func(string, int64) {}
	}
	progress("checking", 0)
	statePath := r.statePath(d.Digest)
	if statePath != "" {
		// One process at a time uploads a blob to a repository through
		// its saved session: two pushes sharing the state directory would
		// otherwise send into one session, and the second PUT fails (or
		// the session gets the bytes twice). The other waits, then finds
		// the blob there. The lock dies with its process.
		unlock, err := lockSession(ctx, statePath)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			statePath = "" // no lock, no shared state: upload unpersisted
		} else {
			defer unlock()
		}
	}
	exists, err := r.HeadBlob(ctx, d.Digest)
	if err != nil {
		return 0, err
	}
	if exists {
		r.c.Stats.BlobsExisting.Add(1)
		progress("exists", d.Size)
		return Existed, nil
	}
	u := &upload{r: r, d: d, open: open, progress: progress, statePath: statePath}
	defer u.closeReader()
	if u.resume(ctx) {
		r.c.Stats.Resumed.Add(1)
	} else {
		var cands []string
		for _, from := range mountFrom {
			if from != r.name.RepositoryStr() && !r.c.cannotRead(r.name.RegistryStr(), from) {
				cands = append(cands, from)
			}
		}
		for i, from := range cands {
			mounted, session, err := r.mount(ctx, d.Digest, from)
			if err != nil {
				return 0, err
			}
			if mounted {
				r.c.Stats.BlobsMounted.Add(1)
				progress("mounted", d.Size)
				return Mounted, nil
			}
			if session == nil {
				continue // denied: try the next, or upload
			}
			// 202: the mount was refused and a fresh session opened. Use it
			// after the last candidate; before that, cancel it.
			if i == len(cands)-1 {
				if err := u.client(ctx); err != nil {
					return 0, err
				}
				if err := u.session(session); err != nil {
					return 0, err
				}
			} else if loc, err := r.resolve(session.Header.Get("Location")); err == nil {
				r.cancelSession(ctx, loc, from)
			}
		}
	}
	if err := u.run(ctx); err != nil {
		return 0, err
	}
	r.c.Stats.BlobsUploaded.Add(1)
	progress("done", d.Size)
	return Uploaded, nil
}

// uploadState is the persisted upload session of one blob. The chunk
// limits are kept because a status request does not repeat them.
type uploadState struct {
	Location string `json:"location"`
	Digest   string `json:"digest"`
	Size     int64  `json:"size"`
	ChunkMin int64  `json:"chunkMin,omitempty"`
	ChunkMax int64  `json:"chunkMax,omitempty"`
}

// lockSession takes the file lock of a blob's saved session (waiting while
// another process holds it) and returns its release.
func lockSession(ctx context.Context, statePath string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err != nil {
		return nil, err
	}
	lk := flock.New(statePath + ".lock")
	if _, err := lk.TryLockContext(ctx, 50*time.Millisecond); err != nil {
		return nil, err
	}
	return func() { _ = lk.Unlock() }, nil
}

func (r *Repo) statePath(d digest.Digest) string {
	if r.c.StateDir == "" {
		return ""
	}
	return filepath.Join(r.c.StateDir, "uploads", registryDir(r.name.RegistryStr()), filepath.FromSlash(r.name.RepositoryStr()), d.Encoded()+".json")
}

// registryDir names a registry's folder under the state directory.
func registryDir(host string) string {
	return strings.NewReplacer(":", "_", "/", "_").Replace(host)
}

// upload is one blob's upload session.
type upload struct {
	r         *Repo
	cn        *conn
	hc        *http.Client
	rate      float64 // bytes per second of the last chunk; 0: none yet
	d         ocispec.Descriptor
	open      Opener
	progress  Progress
	statePath string
	current   int64 // bytes reported to progress

	location string
	offset   int64
	chunkMin int64
	chunkMax int64

	rd   io.ReadCloser
	rOff int64
}

// resume adopts a session saved by an earlier run, if the registry still
// has it.
func (u *upload) resume(ctx context.Context) bool {
	if u.statePath == "" {
		return false
	}
	var s uploadState
	b, err := os.ReadFile(u.statePath)
	if err != nil || json.Unmarshal(b, &s) != nil || s.Digest != u.d.Digest.String() || s.Size != u.d.Size || s.Location == "" {
		return false
	}
	if err := u.client(ctx); err != nil {
		return false
	}
	u.location, u.chunkMin, u.chunkMax = s.Location, s.ChunkMin, s.ChunkMax
	if err := u.status(ctx); err != nil {
		u.location, u.offset = "", 0
		return false
	}
	return true
}

func (u *upload) client(ctx context.Context) error {
	if u.hc != nil {
		return nil
	}
	cn, err := u.r.conn(ctx, nil)
	if err != nil {
		return err
	}
	u.cn, u.hc = cn, cn.hc
	return nil
}

// fresh makes sure the token lasts for a request that sends n bytes, at
// the rate the last chunk went.
func (u *upload) fresh(ctx context.Context, n int64) error {
	var d time.Duration
	if u.rate > 0 {
		d = time.Duration(float64(n) / u.rate * float64(time.Second))
	}
	cn, err := u.r.fresh(ctx, u.cn, nil, d)
	if err != nil {
		return err
	}
	u.cn, u.hc = cn, cn.hc
	return nil
}

func (u *upload) save() {
	if u.statePath == "" {
		return
	}
	b, _ := json.Marshal(uploadState{Location: u.location, Digest: u.d.Digest.String(), Size: u.d.Size, ChunkMin: u.chunkMin, ChunkMax: u.chunkMax})
	if os.MkdirAll(filepath.Dir(u.statePath), 0o700) == nil {
		_ = atomicfile.WriteFile(u.statePath, b, 0o644) // best effort: losing it only costs a restart
	}
}

func (u *upload) clearState() {
	if u.statePath != "" {
		os.Remove(u.statePath)
	}
}

// run sends the bytes, from the session's offset, surviving faults.
func (u *upload) run(ctx context.Context) error {
	if err := u.client(ctx); err != nil {
		return err
	}
	u.progress("uploading", u.offset)
	monolithic := u.r.c.Monolithic
	err := u.r.c.retry(ctx, "upload "+Short(u.d.Digest), func() (bool, error) {
		if u.location == "" { // no session yet, or it was lost (404)
			if err := u.start(ctx); err != nil {
				return false, err
			}
		}
		before := u.offset
		var err error
		if monolithic {
			err = u.putWhole(ctx)
		} else {
			err = u.patchAll(ctx)
			if s := StatusOf(err); before == 0 && u.offset == 0 && (s == 405 || s == 501 || s == 400 || s == 416) {
				// The registry takes no chunked uploads: fall back to one
				// PUT in a fresh session, now, without spending the budget.
				monolithic = true
				u.location, u.offset = "", 0
				u.clearState()
				return true, fmt.Errorf("chunked upload refused, retrying as one PUT: %w", errRetryNow)
			}
		}
		if err == nil {
			return true, nil
		}
		u.closeReader()
		if !Retryable(err) {
			return false, err
		}
		// Ask the registry where the session stands and continue from there.
		if serr := u.status(ctx); serr != nil {
			if s := StatusOf(serr); s == 404 || s == 400 {
				u.location, u.offset = "", 0
				u.clearState()
			}
		} else {
			u.r.c.Stats.Resumed.Add(1)
		}
		return u.offset > before, err
	})
	if err != nil {
		return err
	}
	u.clearState()
	return nil
}

// errRetryNow marks a failure that is a change of plan, retried at once.
var errRetryNow = errors.New("retry at once")

// start opens a new upload session.
func (u *upload) start(ctx context.Context) error {
	resp, _, err := u.r.c.do(ctx, u.hc, http.MethodPost, u.r.url("/blobs/uploads/"), nil, strings.NewReader(""), 0, http.StatusAccepted)
	if err != nil {
		return err
	}
	return u.session(resp)
}

// session adopts the upload session a POST opened.
func (u *upload) session(resp *http.Response) error {
	loc, err := u.r.resolve(resp.Header.Get("Location"))
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

// status asks the registry how much of the session it holds (GET on the
// upload URL, answered with Range: 0-<last byte>) and adopts the Location
// it returns.
func (u *upload) status(ctx context.Context) error {
	resp, _, err := u.r.c.do(ctx, u.hc, http.MethodGet, u.location, nil, nil, 0, http.StatusNoContent)
	if err != nil {
		return err
	}
	off, err := parseRangeEnd(resp.Header.Get("Range"))
	if err != nil {
		return err
	}
	if off > u.d.Size {
		return &Error{Method: http.MethodGet, URL: stripQuery(u.location), Status: 400, Body: "registry holds more bytes than the blob has"}
	}
	u.adopt(resp)
	u.offset = off
	u.save()
	return nil
}

// adopt follows a new session Location, as registries may move sessions.
func (u *upload) adopt(resp *http.Response) {
	if loc := resp.Header.Get("Location"); loc != "" {
		if l, err := u.r.resolve(loc); err == nil {
			u.location = l
		}
	}
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

func (u *upload) chunkSize() int64 {
	n := u.r.c.ChunkSize
	if u.chunkMin > 0 && n < u.chunkMin {
		n = u.chunkMin
	}
	if u.chunkMax > 0 && n > u.chunkMax {
		n = u.chunkMax
	}
	return n
}

func (u *upload) sent(n int) {
	u.r.c.Stats.BytesSent.Add(int64(n))
	u.current += int64(n)
	u.progress("uploading", u.current)
}

func (u *upload) closeReader() {
	if u.rd != nil {
		u.rd.Close()
		u.rd = nil
	}
}

// reader returns the blob's content positioned at u.offset, reusing the
// open reader when it is already there (the common case: consecutive
// chunks read the file once, front to back).
func (u *upload) reader(ctx context.Context) (io.Reader, error) {
	if u.rd != nil && u.rOff == u.offset {
		return u.rd, nil
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
	u.rd, u.rOff = rc, u.offset
	return rc, nil
}

// patchAll sends the rest of the blob in chunks, then commits with PUT.
func (u *upload) patchAll(ctx context.Context) error {
	for u.offset < u.d.Size {
		n := min(u.chunkSize(), u.d.Size-u.offset)
		r, err := u.reader(ctx)
		if err != nil {
			return err
		}
		if err := u.fresh(ctx, n); err != nil {
			return err
		}
		u.current = u.offset
		body := &countingReader{r: io.LimitReader(r, n), on: u.sent}
		hdr := http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", u.offset, u.offset+n-1)},
		}
		start := u.r.c.now()
		resp, _, err := u.r.c.do(ctx, u.hc, http.MethodPatch, u.location, hdr, body, n, http.StatusAccepted, http.StatusNoContent)
		u.rOff += body.n
		if err != nil {
			return err
		}
		if took := u.r.c.now().Sub(start); took > 0 {
			u.rate = float64(n) / took.Seconds()
		}
		if body.n != n {
			return io.ErrUnexpectedEOF
		}
		u.adopt(resp)
		u.offset += n
		if end, err := parseRangeEnd(resp.Header.Get("Range")); err == nil && end > 0 && end != u.offset {
			// The registry disagrees about how much it has: trust it.
			u.offset = end
			u.closeReader()
		}
		u.save()
	}
	if err := u.fresh(ctx, 0); err != nil {
		return err
	}
	return u.commit(ctx, nil, 0)
}

// putWhole sends the blob in one PUT (for registries without chunking).
func (u *upload) putWhole(ctx context.Context) error {
	u.offset = 0
	u.closeReader()
	r, err := u.reader(ctx)
	if err != nil {
		return err
	}
	u.current = 0
	body := &countingReader{r: io.LimitReader(r, u.d.Size), on: u.sent}
	err = u.commit(ctx, body, u.d.Size)
	u.closeReader()
	return err
}

func (u *upload) commit(ctx context.Context, body io.Reader, n int64) error {
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
	_, _, err = u.r.c.do(ctx, u.hc, http.MethodPut, cu.String(), http.Header{"Content-Type": {"application/octet-stream"}}, body, n, http.StatusCreated, http.StatusNoContent)
	if digestInvalid(err) {
		// The bytes sent are not the blob: callers may stream content
		// unhashed and rely on this check (weights.layerOpener does). The
		// session holds wrong bytes; forget it so the next run starts over.
		u.location, u.offset = "", 0
		u.clearState()
		return fmt.Errorf("the registry computed another digest than %s for the %d bytes sent: the content changed since its digest was recorded (for a weight: a file changed since `cog-frontend weights import`; run it again): %w", u.d.Digest, u.d.Size, err)
	}
	return err
}

// digestInvalid reports a registry's DIGEST_INVALID (the distribution
// spec's answer to a commit whose bytes do not match the digest).
func digestInvalid(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			if d.Code == transport.DigestInvalidErrorCode {
				return true
			}
		}
	}
	return false
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
		c.on(n)
	}
	return n, err
}
