package weights

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progressMeter prints "read X of Y MiB" lines about once a second while
// long work runs, so a multi-gigabyte import does not look hung.
type progressMeter struct {
	w     io.Writer
	done  atomic.Int64
	total int64
	stopc chan struct{}
	wg    sync.WaitGroup
}

func (p *progressMeter) start(total int64) {
	if p.w == nil {
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
	fmt.Fprintf(p.w, "  read %d of %d MiB (%.0f%%)\n", d>>20, p.total>>20, pct)
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
