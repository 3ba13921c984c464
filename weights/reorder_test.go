package weights

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// TestImportIndependentOfCreationOrder: the same files, created in
// different orders (so the directories list them, and their inodes come,
// in different orders), import to byte-identical weights.lock files.
func TestImportIndependentOfCreationOrder(t *testing.T) {
	files := map[string]string{}
	for i := range 24 {
		files[fmt.Sprintf("d%d/sub%d/f%02d.bin", i%3, i%2, i)] = strings.Repeat(string(rune('a'+i)), 50+i*40)
	}
	files["model.safetensors"] = strings.Repeat("w", 3000)
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range files {
			if !yield(p) {
				return
			}
		}
	})
	var want []byte
	for seed := range uint64(6) {
		dir := t.TempDir()
		order := slices.Clone(paths)
		rand.New(rand.NewPCG(seed, 3)).Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, p := range order {
			full := filepath.Join(dir, "weights", "m", filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(files[p]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		st, err := store.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg := &config.Config{Model: "registry.example.com/acct/m", Weights: []config.Weight{{Name: "m", Target: "/src/weights/m",
			Sources: []config.WeightSource{{URI: "weights/m"}}}}}
		_, err = Import(context.Background(), ImportOptions{ProjectDir: dir, Config: cfg, Store: st,
			Pack: pack.Options{BundleFileMax: 500, BundleSizeMax: 1500},
			Now:  func() time.Time { return time.Date(2026, 6, 12, 16, 41, 0, 0, time.UTC) }})
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "weights.lock"))
		if err != nil {
			t.Fatal(err)
		}
		if seed == 0 {
			want = got
			continue
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("creation order %d gives another weights.lock:\n%s\nwant:\n%s", seed, got, want)
		}
	}
}
