package weights

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/go-units"
)

// progressMeter reports long work. Every weight gets a line when its files
// start being read and one when they are done; on a terminal, "read X of
// Y MiB" lines follow about once a second as well, so a multi-gigabyte
// import does not look hung. A log (a pipe, CI) gets only the step lines.
type progressMeter struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex // one line at a time
	done  atomic.Int64
	total int64
	stopc chan struct{}
	wg    sync.WaitGroup
}

func (p *progressMeter) start(total int64) {
	if p.w == nil || !p.tty {
		return
	}
	p.total = total
	p.stopc = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-t.C:
				p.print()
			}
		}
	}()
}

func (p *progressMeter) print() {
	d := p.done.Load()
	pct := 100.0
	if p.total > 0 {
		pct = float64(d) * 100 / float64(p.total)
	}
	p.printf("  read %d of %d MiB (%.0f%%)\n", d>>20, p.total>>20, pct)
}

func (p *progressMeter) printf(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// weightStep is one weight's share of one round of work: its files are
// read by several tasks, the first to start prints the opening line, the
// last to finish the closing one.
type weightStep struct {
	name   string
	files  int
	bytes  int64
	layers int // layers packed in this round
	tasks  int
	left   atomic.Int32
	once   sync.Once
	begun  time.Time
}

func (s *weightStep) begin(p *progressMeter) {
	s.once.Do(func() {
		s.begun = time.Now()
		p.printf("%s: hashing %d %s (%s)…\n", s.name, s.files, plural(s.files, "file", "files"), units.BytesSize(float64(s.bytes)))
	})
}

func (s *weightStep) finish(p *progressMeter) {
	if s.left.Add(-1) != 0 {
		return
	}
	took := time.Since(s.begun)
	if took >= time.Second {
		took = took.Round(100 * time.Millisecond)
	} else {
		took = took.Round(time.Millisecond)
	}
	if s.layers > 0 {
		p.printf("%s: packed %d %s in %s\n", s.name, s.layers, plural(s.layers, "layer", "layers"), took)
		return
	}
	p.printf("%s: hashed %d %s in %s\n", s.name, s.files, plural(s.files, "file", "files"), took)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (p *progressMeter) stop() {
	if p.stopc == nil {
		return
	}
	close(p.stopc)
	p.wg.Wait()
}

func (p *progressMeter) reader(r io.ReadCloser) io.ReadCloser {
	if p == nil || p.w == nil {
		return r
	}
	return &meteredReader{ReadCloser: r, p: p}
}

type meteredReader struct {
	io.ReadCloser
	p *progressMeter
}

func (m *meteredReader) Read(b []byte) (int, error) {
	n, err := m.ReadCloser.Read(b)
	m.p.done.Add(int64(n))
	return n, err
}
