// Package weightgen writes deterministic synthetic weight directories for
// tests and benchmarks (like Cog's weights-lock-gen tool): a few large
// .safetensors-like files of incompressible bytes and many small JSON and
// text files in nested folders. The same Spec always yields the same bytes
// and names, on any machine.
package weightgen

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Spec describes a fixture.
type Spec struct {
	Seed       uint64
	LargeFiles int   // .safetensors-like files
	LargeMin   int64 // bytes
	LargeMax   int64
	SmallFiles int // .json / .txt files
	SmallMin   int64
	SmallMax   int64
	MaxDepth   int // folder nesting of small files (0: all at the top)
}

// File is one generated file.
type File struct {
	Path string // relative, '/'-separated
	Size int64
}

// Generate writes the fixture into dir (created if missing) and returns its
// files in generation order.
func Generate(dir string, s Spec) ([]File, error) {
	if s.LargeMax < s.LargeMin || s.SmallMax < s.SmallMin || s.SmallMin < 0 || s.LargeMin < 0 {
		return nil, fmt.Errorf("weightgen: max below min or negative size")
	}
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
	var files []File
	for i := range s.LargeFiles {
		size := between(rng, s.LargeMin, s.LargeMax)
		f := File{Path: fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, s.LargeFiles), Size: size}
		if err := writeSafetensors(filepath.Join(dir, f.Path), size, s.Seed+uint64(i)+1); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	dirs := []string{""}
	for i := range s.SmallFiles {
		d := dirs[rng.IntN(len(dirs))]
		if s.MaxDepth > 0 && depth(d) < s.MaxDepth && rng.IntN(4) == 0 {
			d = join(d, fmt.Sprintf("sub%02d", rng.IntN(16)))
			dirs = append(dirs, d)
		}
		ext := ".json"
		if rng.IntN(3) == 0 {
			ext = ".txt"
		}
		size := between(rng, s.SmallMin, s.SmallMax)
		f := File{Path: join(d, fmt.Sprintf("file-%04d%s", i, ext)), Size: size}
		if err := writeText(filepath.Join(dir, filepath.FromSlash(f.Path)), size, rng.Uint64()); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func between(rng *rand.Rand, lo, hi int64) int64 {
	if hi == lo {
		return lo
	}
	return lo + rng.Int64N(hi-lo+1)
}

func depth(d string) int {
	if d == "" {
		return 0
	}
	n := 1
	for _, c := range d {
		if c == '/' {
			n++
		}
	}
	return n
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "/" + b
}

func create(p string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return os.Create(p)
}

// writeSafetensors writes a safetensors-shaped file: an 8-byte little-endian
// header length, a JSON header, then pseudo-random (incompressible) bytes.
func writeSafetensors(p string, size int64, seed uint64) error {
	f, err := create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr, _ := json.Marshal(map[string]any{"__metadata__": map[string]string{"format": "pt", "generator": "weightgen"}})
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
	prefix := append(n[:], hdr...)
	if int64(len(prefix)) > size {
		prefix = prefix[:size]
	}
	if _, err := f.Write(prefix); err != nil {
		return err
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	if _, err := io.CopyN(f, rand.NewChaCha8(key), size-int64(len(prefix))); err != nil {
		return err
	}
	return f.Close()
}

// writeText writes JSON lines shaped like tokenizer vocabularies and
// configs: random tokens, ids and scores. It compresses about 2:1, like
// real tokenizer files; highly repetitive text would make deflate
// pathologically slow and the fixture unrepresentative.
func writeText(p string, size int64, seed uint64) error {
	f, err := create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(seed, ^seed))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
	tok := make([]byte, 16)
	var written int64
	for id := 0; written < size; id++ {
		n := 2 + rng.IntN(len(tok)-2)
		for i := range n {
			tok[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := fmt.Sprintf("{\"id\": %d, \"token\": \"%s\", \"score\": %.6f}\n", id, tok[:n], -rng.Float64()*20)
		if int64(len(s)) > size-written {
			s = s[:size-written]
		}
		k, err := w.WriteString(s)
		if err != nil {
			return err
		}
		written += int64(k)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// OfSize is a Spec of about total bytes shaped like a sharded model: up to
// six large files, each bigger than minLarge (the packer's bundling limit,
// so that each is a layer of its own, as multi-GiB shards are), and 300
// small JSON and text files of up to 64 KiB (at 4 GiB; proportionally
// fewer below, at least 30, so that a scaled-down run keeps the mix of the
// full one). Fewer large files are used
// when six would be under 80 MiB each; a total too small for one large
// file above minLarge gives one such file (a bigger set than asked for).
func OfSize(seed uint64, total, minLarge int64) Spec {
	const smallMax = 64 << 10
	small := min(300, max(30, 300*total/(4<<30)))
	large := int64(6)
	per := (total - small*smallMax/2) / large
	for large > 1 && per < 80<<20 {
		large--
		per = (total - small*smallMax/2) / large
	}
	per = max(per, minLarge+1<<20)
	return Spec{Seed: seed, LargeFiles: int(large), LargeMin: per, LargeMax: per,
		SmallFiles: int(small), SmallMin: 512, SmallMax: smallMax, MaxDepth: 2}
}
