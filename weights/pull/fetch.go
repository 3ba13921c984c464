package pull

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
	"github.com/opencontainers/go-digest"

	"github.com/cog-frontend/cog-frontend/weights/store"
)

// Defaults of a Fetcher.
const (
	DefaultJobs = 4
	// DefaultRangeMin: blobs this large or larger come as parallel range
	// requests; below it one stream is as fast and costs fewer requests.
	DefaultRangeMin = 64 << 20
	// DefaultRangeChunk is the largest range request. Chunks are buffered
	// in memory until their turn to be hashed and written, so a large blob
	// costs (RangeJobs+1) chunks of RSS, and a kill -9 loses at most that
	// many chunks of bytes already received. The chunk is therefore a
	// 64th of the blob (at least minRangeChunk): the loss stays under 8%
	// of any blob, and under 1% of a multi-GiB one.
	DefaultRangeChunk = 8 << 20
	minRangeChunk     = 1 << 20
	DefaultRangeJobs  = 4
)

// Fetcher fills the content store with the files of weights.
type Fetcher struct {
	Store  *store.Store
	Source Source
	// Jobs is how many layers download at once (default DefaultJobs).
	Jobs int
	// RangeMin, RangeChunk and RangeJobs shape the parallel range
	// requests of large blobs from a remote source; RangeJobs 1 turns them
	// off.
	RangeMin, RangeChunk int64
	RangeJobs            int
	// Events, if set, is told what happens; it is called from several
	// goroutines.
	Events func(Event)
	Stats  Stats

	waiting atomic.Int64 // layers of Fetch waiting for a download slot
}

// Stats counts what a Fetcher did.
type Stats struct {
	BytesFetched  atomic.Int64 // layer bytes received from the source
	BytesResumed  atomic.Int64 // bytes of interrupted layers kept from an earlier run
	LayersFetched atomic.Int64
	LayersSkipped atomic.Int64 // every file already in the store
}

// Event is progress of one layer.
type Event struct {
	Kind   EventKind
	Weight string // the weight's name
	Layer  digest.Digest
	Bytes  int64 // Progress: bytes received so far; Resume: bytes kept
	Total  int64 // the layer's size
	Err    error // Failed
}

// EventKind names what happened to a layer.
type EventKind string

// Event kinds.
const (
	EventSkip     EventKind = "skip"   // all files in the store
	EventStart    EventKind = "start"  // download begins
	EventResume   EventKind = "resume" // continues an interrupted download
	EventProgress EventKind = "progress"
	EventDone     EventKind = "done"
	EventFailed   EventKind = "failed"
)

func (f *Fetcher) emit(e Event) {
	if f.Events != nil {
		f.Events(e)
	}
}

type layerJob struct {
	layer   Layer
	files   []File
	weights []int // indexes into ws
	name    string
}

// Fetch makes every file of ws present in the store, downloading only the
// layers holding a file the store lacks. It returns one error per weight,
// nil for each weight whose files are all in the store.
func (f *Fetcher) Fetch(ctx context.Context, ws []Weight) []error {
	errs := make([]error, len(ws))
	var jobs []*layerJob
	byDigest := map[digest.Digest]*layerJob{}
	for i, w := range ws {
		for _, l := range w.Layers {
			if j := byDigest[l.Digest]; j != nil {
				j.weights = append(j.weights, i)
				continue
			}
			j := &layerJob{layer: l, files: w.FilesOf(l.Digest), weights: []int{i}, name: w.Name}
			byDigest[l.Digest] = j
			jobs = append(jobs, j)
		}
	}
	// Layers of many files first: their time goes to creating one file
	// after another, not to bytes, so they overlap the large layers rather
	// than run alone after them.
	slices.SortStableFunc(jobs, func(a, b *layerJob) int { return cmp.Compare(len(b.files), len(a.files)) })
	n := f.Jobs
	if n <= 0 {
		n = DefaultJobs
	}
	sem := make(chan struct{}, n)
	f.waiting.Store(int64(len(jobs)))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				f.waiting.Add(-1)
			case <-ctx.Done():
				f.waiting.Add(-1)
				mu.Lock()
				for _, i := range j.weights {
					errs[i] = cmpErr(errs[i], ctx.Err())
				}
				mu.Unlock()
				return
			}
			defer func() { <-sem }()
			if err := f.fetchLayer(ctx, j); err != nil {
				f.emit(Event{Kind: EventFailed, Weight: j.name, Layer: j.layer.Digest, Total: j.layer.Size, Err: err})
				mu.Lock()
				for _, i := range j.weights {
					errs[i] = cmpErr(errs[i], err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

func (f *Fetcher) complete(files []File) bool {
	for _, fl := range files {
		if !f.Store.Has(fl.Digest) {
			return false
		}
	}
	for _, fl := range files {
		f.Store.Touch(fl.Digest) // used again: last in line for eviction
	}
	return true
}

// transferError is a failure to move bytes (network, cancellation), as
// opposed to bytes that are no good: the partial download is kept.
type transferError struct{ err error }

func (e *transferError) Error() string { return e.err.Error() }
func (e *transferError) Unwrap() error { return e.err }

func (f *Fetcher) fetchLayer(ctx context.Context, j *layerJob) error {
	l := j.layer
	if f.complete(j.files) {
		f.Stats.LayersSkipped.Add(1)
		f.emit(Event{Kind: EventSkip, Weight: j.name, Layer: l.Digest, Total: l.Size})
		return nil
	}
	// One process at a time downloads a layer; another pulling the same
	// layer waits, then finds its files in the store.
	lk := flock.New(filepath.Join(f.Store.Root(), "locks", "pull-"+l.Digest.Encoded()+".lock"))
	if _, err := lk.TryLockContext(ctx, 100*time.Millisecond); err != nil {
		return fmt.Errorf("layer %s: lock: %w", l.Digest, err)
	}
	defer lk.Unlock()
	if f.complete(j.files) {
		f.Stats.LayersSkipped.Add(1)
		f.emit(Event{Kind: EventSkip, Weight: j.name, Layer: l.Digest, Total: l.Size})
		return nil
	}
	retry, err := f.download(ctx, j)
	if retry {
		// The bytes kept from an earlier attempt were no good (the source
		// changed them, or sent garbage before it failed): start over once.
		_, err = f.download(ctx, j)
	}
	return err
}

// download fetches one layer, continuing a partial download. retry reports
// that the layer failed on its content after resuming, and the partial has
// been discarded.
func (f *Fetcher) download(ctx context.Context, j *layerJob) (retry bool, err error) {
	if isDirect(j.layer, j.files) {
		return f.direct(ctx, j)
	}
	l := j.layer
	p, err := f.Store.Resume("pull " + l.Digest.String())
	if err != nil {
		return false, fmt.Errorf("layer %s: content store %s: %w", l.Digest, f.Store.Root(), err)
	}
	if p.Size() > l.Size {
		if err := p.Reset(); err != nil {
			p.Close()
			return false, err
		}
	}
	have := p.Size()
	kind := EventStart
	if have > 0 {
		kind = EventResume
		f.Stats.BytesResumed.Add(have)
	}
	f.emit(Event{Kind: kind, Weight: j.name, Layer: l.Digest, Bytes: have, Total: l.Size})

	prefix, err := os.Open(p.Path())
	if err != nil {
		p.Close()
		return false, err
	}
	defer prefix.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	net, meter := f.meteredBody(cctx, j.name, l, have)
	defer net.Close()
	stream := io.MultiReader(io.LimitReader(prefix, have), io.TeeReader(meter, p))
	// The layer's files become durable with one sync and visible together,
	// once the layer's digest checks out.
	batch, err := f.Store.NewBatch()
	if err != nil {
		p.Close()
		return false, err
	}
	defer batch.Abort()
	err = Extract(cctx, l, j.files, stream, batch)
	cancel()
	if err == nil && (p.Size() != l.Size || p.Digest() != l.Digest.String()) {
		sz, dg := p.Size(), p.Digest()
		p.Discard()
		return have > 0, fmt.Errorf("layer %s: received %d bytes with digest %s, the manifest says %d bytes; the blob is corrupt or tampered with", l.Digest, sz, dg, l.Size)
	}
	if err == nil {
		err = batch.Commit()
	}
	if err != nil {
		var te *transferError
		if errors.As(err, &te) || ctx.Err() != nil {
			p.Close() // keep what arrived for the next run
			return false, fmt.Errorf("layer %s: %w (%d of %d bytes kept; run the pull again to continue)", l.Digest, err, p.Size(), l.Size)
		}
		p.Discard()
		err = f.Store.Explain(err)
		return have > 0, err
	}
	p.Discard() // its files are in the store now
	f.Stats.LayersFetched.Add(1)
	f.emit(Event{Kind: EventDone, Weight: j.name, Layer: l.Digest, Bytes: l.Size, Total: l.Size})
	return false, nil
}

type meterReader struct {
	r     io.Reader
	n     *atomic.Int64
	stats *Stats
	every int64
	last  int64
	fn    func(int64)
}

func (m *meterReader) Read(b []byte) (int, error) {
	n, err := m.r.Read(b)
	if n > 0 {
		t := m.n.Add(int64(n))
		m.stats.BytesFetched.Add(int64(n))
		if t-m.last >= m.every {
			m.last = t
			m.fn(t)
		}
	}
	return n, err
}

// meteredBody is body with progress: every 4 MiB that arrive emit a
// progress event for weight's layer and count toward Stats.BytesFetched.
// Close the returned body; read from the meter.
func (f *Fetcher) meteredBody(ctx context.Context, weight string, l Layer, from int64) (io.ReadCloser, io.Reader) {
	net := f.body(ctx, l, from)
	got := new(atomic.Int64)
	got.Store(from)
	return net, &meterReader{r: net, n: got, stats: &f.Stats, every: 4 << 20, fn: func(n int64) {
		f.emit(Event{Kind: EventProgress, Weight: weight, Layer: l.Digest, Bytes: n, Total: l.Size})
	}}
}

// body streams bytes from..l.Size of the layer from the source, retrying
// and resuming under the source's retry budget. Errors it returns are
// transferErrors. It reads at most l.Size bytes; a source sending fewer is
// retried from where it stopped.
func (f *Fetcher) body(ctx context.Context, l Layer, from int64) io.ReadCloser {
	pr, pw := io.Pipe()
	rangeMin, chunk, rjobs := f.RangeMin, f.RangeChunk, f.RangeJobs
	if rangeMin <= 0 {
		rangeMin = DefaultRangeMin
	}
	if chunk <= 0 {
		chunk = min(max((l.Size-from)/64, minRangeChunk), DefaultRangeChunk)
	}
	if rjobs <= 0 {
		rjobs = DefaultRangeJobs
	}
	go func() {
		var err error
		// Range requests only while no layer waits for a download slot:
		// until then the layers' own streams use the link, and splitting a
		// blob as well only adds requests and in-order hand-offs (on a
		// local registry that made the pull half as fast again).
		if f.Source.Remote() && rjobs > 1 && l.Size-from >= rangeMin && f.waiting.Load() == 0 {
			err = f.ranges(ctx, l, from, chunk, rjobs, pw)
		} else {
			err = f.stream(ctx, l, from, l.Size-from, pw)
		}
		if err != nil {
			var te *transferError
			if !errors.As(err, &te) {
				err = &transferError{err}
			}
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// consumerError is the reader side giving up (bad content, cancelled): not
// retryable, so the retry loop ends. It deliberately does not unwrap.
type consumerError struct{ err error }

func (e consumerError) Error() string { return e.err.Error() }

// stream copies n bytes of l from offset off to w, resuming after faults.
func (f *Fetcher) stream(ctx context.Context, l Layer, off, n int64, w io.Writer) error {
	end := off + n
	what := "GET blob " + l.Digest.String()
	err := f.Source.Retry(ctx, what, func() (bool, error) {
		if off >= end {
			return false, nil
		}
		rc, start, err := f.Source.Blob(ctx, l.Digest, off, end-off)
		if err != nil {
			return false, err
		}
		defer rc.Close()
		if start < off { // the source ignored the range
			if _, err := io.CopyN(io.Discard, rc, off-start); err != nil {
				return false, err
			}
		}
		var c int64
		if bw, ok := w.(*bytesWriter); ok {
			c, err = bw.ReadFrom(io.LimitReader(rc, end-off)) // straight into the chunk
		} else {
			c, err = io.Copy(consumerWriter{w}, io.LimitReader(rc, end-off))
		}
		off += c
		if err == nil && off < end {
			err = fmt.Errorf("%s: the body ended after %d of %d bytes: %w", what, off, end, io.ErrUnexpectedEOF)
		}
		return c > 0, err
	})
	var ce consumerError
	if errors.As(err, &ce) {
		return ce.err
	}
	return err
}

type consumerWriter struct{ w io.Writer }

func (c consumerWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	if err != nil {
		err = consumerError{err}
	}
	return n, err
}

// ranges fetches bytes from..l.Size as parallel range requests of chunk
// bytes, rjobs at a time, and writes them to w in order.
func (f *Fetcher) ranges(ctx context.Context, l Layer, from, chunk int64, rjobs int, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type part struct {
		off, n int64
		buf    *bytesWriter
		done   chan error
	}
	var parts []*part
	for off := from; off < l.Size; off += chunk {
		parts = append(parts, &part{off: off, n: min(chunk, l.Size-off), done: make(chan error, 1)})
	}
	slots := make(chan struct{}, rjobs+1) // one chunk ahead of the workers
	// The chunks' buffers are reused: rjobs+1 of them at most, each
	// allocated once, instead of a new (zeroed) one per chunk.
	bufs := make(chan []byte, rjobs+1)
	go func() {
		for _, p := range parts {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			var b []byte
			select {
			case b = <-bufs:
			default:
				b = make([]byte, 0, chunk)
			}
			p.buf = &bytesWriter{b: b[:0]}
			go func() {
				p.done <- f.stream(ctx, l, p.off, p.n, p.buf)
			}()
		}
	}()
	for _, p := range parts {
		select {
		case err := <-p.done:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		if _, err := w.Write(p.buf.b); err != nil {
			return consumerError{err}
		}
		bufs <- p.buf.b // the write returned: the reader is done with it
		p.buf = nil
		<-slots
	}
	return nil
}

type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// ReadFrom reads r into the buffer's spare capacity, growing it only past
// that.
func (w *bytesWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if len(w.b) == cap(w.b) {
			w.b = append(w.b, 0)[:len(w.b)]
		}
		n, err := r.Read(w.b[len(w.b):cap(w.b)])
		w.b = w.b[:len(w.b)+n]
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
