package pack

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/wire"
)

// rawFixture writes files of the given sizes under dir and returns their plan.
func rawFixture(t *testing.T, dir string, sizes map[string]int) (LayerPlan, OpenFunc) {
	t.Helper()
	lp := LayerPlan{MediaType: wire.MediaTypeLayerTar}
	for _, p := range []string{"a.bin", "d/b.bin", "d/e/c.bin", "d/empty", "z.bin"} {
		n, ok := sizes[p]
		if !ok {
			continue
		}
		b := bytes.Repeat([]byte{byte(len(p))}, n)
		for i := range b {
			b[i] ^= byte(i * 7)
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
		lp.Files = append(lp.Files, File{Path: p, Size: int64(n)})
	}
	open := func(_ context.Context, f File) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, filepath.FromSlash(f.Path)))
	}
	return lp, open
}

func TestRawLayerIsWriteLayerByteForByte(t *testing.T) {
	for name, sizes := range map[string]map[string]int{
		"one file":      {"a.bin": 3<<20 + 17},
		"block aligned": {"a.bin": 4096},
		"nested":        {"a.bin": 1, "d/b.bin": 511, "d/e/c.bin": 513, "d/empty": 0, "z.bin": 70000},
	} {
		t.Run(name, func(t *testing.T) {
			lp, open := rawFixture(t, t.TempDir(), sizes)
			var want bytes.Buffer
			res, err := WriteLayer(context.Background(), lp, open, &want)
			if err != nil {
				t.Fatal(err)
			}
			rl, err := OpenRawLayer(context.Background(), lp, open)
			if err != nil {
				t.Fatal(err)
			}
			defer rl.Close()
			if rl.Size() != res.Layer.Size {
				t.Fatalf("raw layer is %d bytes, WriteLayer wrote %d", rl.Size(), res.Layer.Size)
			}
			got, err := io.ReadAll(rl)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("raw layer bytes differ from WriteLayer's (%d vs %d bytes)", len(got), want.Len())
			}
			// Every offset a resumed upload may seek to gives the tail.
			for _, off := range []int64{0, 1, 511, 512, 1536, rl.Size() / 2, rl.Size() - 1024, rl.Size() - 1} {
				if _, err := rl.Seek(off, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				tail, err := io.ReadAll(rl)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(tail, want.Bytes()[off:]) {
					t.Fatalf("after Seek(%d): %d bytes that differ from the layer's tail", off, len(tail))
				}
			}
		})
	}
}

func TestRawLayerRefusesChangedOrUnsuitableInput(t *testing.T) {
	dir := t.TempDir()
	lp, open := rawFixture(t, dir, map[string]int{"a.bin": 1000})
	if err := os.WriteFile(filepath.Join(dir, "a.bin"), make([]byte, 999), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRawLayer(context.Background(), lp, open); err == nil || !strings.Contains(err.Error(), "a.bin: file is 999 bytes, it had 1000") {
		t.Fatalf("a file that shrank since it was listed: got %v", err)
	}
	gz := lp
	gz.MediaType = wire.MediaTypeLayerTarGzip
	if _, err := OpenRawLayer(context.Background(), gz, open); err != ErrNotRaw {
		t.Fatalf("gzip plan: got %v, want ErrNotRaw", err)
	}
	mem := func(context.Context, File) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil }
	if _, err := OpenRawLayer(context.Background(), lp, mem); err != ErrNotRaw {
		t.Fatalf("non-file opener: got %v, want ErrNotRaw", err)
	}
}
