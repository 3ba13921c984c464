package pack

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// packed is everything a weight's packing produces, as bytes.
type packed struct {
	layers          [][]byte
	config, mani    []byte
	setDigest, plan string
}

// packShuffled packs files presented in the order r gives, and hands the
// file and layer lists to SetDigest, ConfigBlob and Manifest in shuffled
// orders too, as a concurrent packer might collect them.
func packShuffled(t *testing.T, content map[string][]byte, files []File, opts Options, r *rand.Rand) packed {
	t.Helper()
	in := slices.Clone(files)
	r.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
	plan, results, blobs := packAll(t, content, in, opts)
	var pfs []PackedFile
	var all []File
	var descs []PackedLayer
	var names []string
	for i, lp := range plan {
		descs = append(descs, results[i].Layer)
		for k, f := range lp.Files {
			pfs = append(pfs, PackedFile{Path: f.Path, Size: f.Size, Digest: results[i].FileDigests[k], Layer: results[i].Layer.Digest})
			all = append(all, File{Path: f.Path, Size: f.Size, Digest: results[i].FileDigests[k]})
			names = append(names, f.Path)
		}
		names = append(names, "|")
	}
	r.Shuffle(len(pfs), func(a, b int) { pfs[a], pfs[b] = pfs[b], pfs[a] })
	r.Shuffle(len(all), func(a, b int) { all[a], all[b] = all[b], all[a] })
	r.Shuffle(len(descs), func(a, b int) { descs[a], descs[b] = descs[b], descs[a] })
	p := packed{layers: blobs, setDigest: SetDigest(all), plan: strings.Join(names, ",")}
	var err error
	if p.config, err = ConfigBlob("w", "/src/weights", p.setDigest, pfs); err != nil {
		t.Fatal(err)
	}
	if p.mani, err = Manifest("w", "/src/weights", p.setDigest, p.config, descs); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPackIndependentOfInputOrder: the same files listed in any order
// give the same layers (byte for byte), config blob, manifest and set
// digest, with small files bundled, large ones alone, and both.
func TestPackIndependentOfInputOrder(t *testing.T) {
	content, files := smallSet()
	for i := range 30 { // more files, so one bundle holds several and orders vary
		p := "shard/" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + ".bin"
		content[p] = bytes.Repeat([]byte{byte(i)}, 40+i*7)
		files = append(files, File{Path: p, Size: int64(len(content[p]))})
	}
	for _, o := range []Options{{}, {BundleFileMax: 200, BundleSizeMax: 600}, {BundleFileMax: 1, BundleSizeMax: 1}} {
		want := packShuffled(t, content, files, o, rand.New(rand.NewPCG(0, 0)))
		if len(want.layers) == 0 {
			t.Fatal("nothing packed")
		}
		for i := uint64(1); i <= 8; i++ {
			got := packShuffled(t, content, files, o, rand.New(rand.NewPCG(i, 7)))
			if got.plan != want.plan {
				t.Fatalf("%+v order %d: plan %s, want %s", o, i, got.plan, want.plan)
			}
			for k := range want.layers {
				if !bytes.Equal(got.layers[k], want.layers[k]) {
					t.Fatalf("%+v order %d: layer %d has other bytes", o, i, k)
				}
			}
			if got.setDigest != want.setDigest || !bytes.Equal(got.config, want.config) || !bytes.Equal(got.mani, want.mani) {
				t.Fatalf("%+v order %d: set digest %s (want %s), config blob or manifest differ:\n%s\n%s", o, i, got.setDigest, want.setDigest, got.mani, want.mani)
			}
		}
	}
}
