package config

import (
	"fmt"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	data := []byte(fullYAML)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := Parse("cog.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// bigLock is a lock with one weight of n files spread over 64 layers, the
// shape of a large tokenizer-heavy model.
func bigLock(n int) *Lock {
	l := sampleLock()
	w := &l.Weights[0]
	w.Files, w.Layers, w.Size, w.SizeCompressed = nil, nil, 0, 0
	for i := range 64 {
		d := fmt.Sprintf("sha256:%064x", i)
		w.Layers = append(w.Layers, LockLayer{Digest: d, MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Size: 10, SizeUncompressed: 20})
		w.Size += 20
		w.SizeCompressed += 10
	}
	for i := range n {
		w.Files = append(w.Files, LockFile{Path: fmt.Sprintf("dir%03d/file%06d.json", i%100, i), Size: 1,
			Digest: fmt.Sprintf("sha256:%064x", i+1000), Layer: w.Layers[i%64].Digest})
	}
	return l
}

func BenchmarkParseLock10kFiles(b *testing.B) {
	data, err := MarshalLock(bigLock(10000))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseLock("weights.lock", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalLock10kFiles(b *testing.B) {
	l := bigLock(10000)
	for b.Loop() {
		if _, err := MarshalLock(l); err != nil {
			b.Fatal(err)
		}
	}
}
