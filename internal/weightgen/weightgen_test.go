package weightgen

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateIsDeterministicAndInRange(t *testing.T) {
	spec := Spec{Seed: 5, LargeFiles: 2, LargeMin: 10 << 10, LargeMax: 20 << 10, SmallFiles: 30, SmallMin: 100, SmallMax: 4000, MaxDepth: 3}
	a, b := t.TempDir(), t.TempDir()
	fa, err := Generate(a, spec)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := Generate(b, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(fa) != 32 || len(fb) != len(fa) {
		t.Fatalf("%d and %d files, want 32", len(fa), len(fb))
	}
	nested := false
	for i, f := range fa {
		if fb[i] != f {
			t.Fatalf("file %d differs: %+v vs %+v", i, f, fb[i])
		}
		x, _ := os.ReadFile(filepath.Join(a, f.Path))
		y, _ := os.ReadFile(filepath.Join(b, f.Path))
		if !bytes.Equal(x, y) || int64(len(x)) != f.Size {
			t.Fatalf("%s: bytes differ or size %d != %d", f.Path, len(x), f.Size)
		}
		lo, hi := spec.SmallMin, spec.SmallMax
		if strings.HasSuffix(f.Path, ".safetensors") {
			lo, hi = spec.LargeMin, spec.LargeMax
		}
		if f.Size < lo || f.Size > hi {
			t.Fatalf("%s: size %d outside [%d, %d]", f.Path, f.Size, lo, hi)
		}
		nested = nested || strings.Contains(f.Path, "/")
	}
	if !nested {
		t.Fatalf("no nested folders generated")
	}
	// Large files are incompressible, small ones compress (like real
	// tensors and tokenizer text).
	ratio := func(p string) float64 {
		raw, _ := os.ReadFile(filepath.Join(a, p))
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(raw)
		w.Close()
		return float64(buf.Len()) / float64(len(raw))
	}
	if r := ratio(fa[0].Path); r < 0.95 {
		t.Fatalf("large file compresses to %.2f; want incompressible", r)
	}
	if r := ratio(fa[2].Path); r > 0.8 {
		t.Fatalf("small file compresses only to %.2f", r)
	}
	other, err := Generate(t.TempDir(), Spec{Seed: 6, LargeFiles: 2, LargeMin: 10 << 10, LargeMax: 20 << 10, SmallFiles: 30, SmallMin: 100, SmallMax: 4000, MaxDepth: 3})
	if err != nil {
		t.Fatal(err)
	}
	if other[0] == fa[0] && other[2] == fa[2] {
		t.Fatalf("a different seed gave the same fixture")
	}
}

func TestOfSizeShapesAndScales(t *testing.T) {
	full := OfSize(1, 4<<30, 64<<20)
	if full.LargeFiles != 6 || full.SmallFiles != 300 || full.LargeMin <= 64<<20 {
		t.Errorf("4 GiB: %+v, want 6 large files above 64 MiB and 300 small ones", full)
	}
	q := OfSize(1, 1<<30, 64<<20)
	if q.SmallFiles != 75 || q.LargeFiles != 6 {
		t.Errorf("1 GiB: %+v, want 6 large files and 75 small ones (a quarter of the mix)", q)
	}
	tiny := OfSize(1, 32<<20, 64<<20)
	if tiny.LargeFiles != 1 || tiny.LargeMin <= 64<<20 || tiny.SmallFiles != 30 {
		t.Errorf("32 MiB: %+v, want one large file above the bundling limit and 30 small ones", tiny)
	}
}
