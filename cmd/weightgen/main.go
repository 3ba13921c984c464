// Command weightgen writes a deterministic synthetic weight directory (see
// internal/weightgen) for tests, benchmarks and demos.
//
//	weightgen -out DIR [-seed N] [-large N -large-min BYTES -large-max BYTES]
//	          [-small N -small-min BYTES -small-max BYTES] [-depth N]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/cog-frontend/cog-frontend/internal/weightgen"
)

func main() {
	out := flag.String("out", "", "directory to write (required)")
	var s weightgen.Spec
	flag.Uint64Var(&s.Seed, "seed", 1, "seed; the same flags give the same bytes")
	flag.IntVar(&s.LargeFiles, "large", 2, "number of large .safetensors-like files")
	flag.Int64Var(&s.LargeMin, "large-min", 64<<20, "smallest large file, bytes")
	flag.Int64Var(&s.LargeMax, "large-max", 96<<20, "biggest large file, bytes")
	flag.IntVar(&s.SmallFiles, "small", 50, "number of small JSON/text files")
	flag.Int64Var(&s.SmallMin, "small-min", 100, "smallest small file, bytes")
	flag.Int64Var(&s.SmallMax, "small-max", 64<<10, "biggest small file, bytes")
	flag.IntVar(&s.MaxDepth, "depth", 2, "folder nesting of small files")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "weightgen: -out DIR is required")
		os.Exit(2)
	}
	files, err := weightgen.Generate(*out, s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "weightgen:", err)
		os.Exit(1)
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	fmt.Printf("wrote %d files, %d bytes, to %s\n", len(files), total, *out)
}
