package llb

import (
	"context"
	"testing"

	bkllb "github.com/moby/buildkit/client/llb"
)

// BenchmarkBuildAndMarshal measures converting the cpu-weights example and
// marshalling it, the work the frontend does per platform before solving.
func BenchmarkBuildAndMarshal(b *testing.B) {
	f := loadFixture(b, "../examples/cpu-weights")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Build(context.Background(), f.cfg, f.opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := res.State.Marshal(context.Background(), bkllb.Platform(f.opts.Platform)); err != nil {
			b.Fatal(err)
		}
	}
}
