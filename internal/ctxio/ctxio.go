// Package ctxio makes long copies stop when their context is cancelled.
package ctxio

import (
	"context"
	"io"
)

// Reader returns r that fails with ctx's error once ctx is done, so an
// io.Copy of gigabytes ends at the next read after a cancel.
func Reader(ctx context.Context, r io.Reader) io.Reader { return reader{ctx, r} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
