package materialize_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/weights/materialize"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/pull"
	"github.com/cog-frontend/cog-frontend/weights/pull/pulltest"
	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/cog-frontend/cog-frontend/wire"
)

// Layer media types FuzzExtract picks from with its first argument.
var fuzzMediaTypes = []string{wire.MediaTypeLayerTar, wire.MediaTypeLayerTarGzip, pull.MediaTypeV0Gzip, pull.MediaTypeV0Raw, pull.MediaTypeV0Zstd}

// FuzzExtract feeds arbitrary bytes as one pulled layer through the real
// chain: the config blob is made to list what the bytes hold (so the
// fuzzer reaches past the listing checks), ParseV1/ParseV0 check it as a
// pull does, Extract fills a real content store and the Placer puts the
// files under ROOT. Whatever the bytes: no panic, nothing written outside
// the destination (the test's directory is walked, and its parent), no
// symlink created, and a layer archive/tar cannot read is an error.
func FuzzExtract(f *testing.F) {
	opts := pack.Options{BundleFileMax: 16, BundleSizeMax: 64}
	w := pulltest.Weight("w", "/src/w", map[string][]byte{"a.txt": []byte("a"), "d/b.txt": []byte("bb"), "big.bin": bytes.Repeat([]byte("x"), 40)}, opts)
	var m ocispec.Manifest
	if err := json.Unmarshal(w.Manifest, &m); err != nil {
		f.Fatal(err)
	}
	for _, l := range m.Layers {
		kind := uint8(0)
		if l.MediaType == wire.MediaTypeLayerTarGzip {
			kind = 1
		}
		f.Add(kind, w.Layers[l.Digest])
	}
	_, v0 := pulltest.V0(pulltest.V0File{Name: "m", Dest: "/src/m.bin", Data: []byte("model")})
	for _, l := range v0 {
		f.Add(uint8(2), l)
	}
	f.Add(uint8(3), []byte("raw file bytes"))
	hostile := func(hs ...tar.Header) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, h := range hs {
			_ = tw.WriteHeader(&h)
			if h.Typeflag == tar.TypeReg {
				_, _ = tw.Write(bytes.Repeat([]byte("z"), int(h.Size)))
			}
		}
		_ = tw.Close()
		return b.Bytes()
	}
	for _, h := range []tar.Header{
		{Name: "../escape", Typeflag: tar.TypeReg, Size: 3, Mode: 0o644},
		{Name: "/abs", Typeflag: tar.TypeReg, Size: 3, Mode: 0o644},
		{Name: "a/../../b", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644},
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		{Name: "hard", Typeflag: tar.TypeLink, Linkname: "../x"},
		{Name: "dev", Typeflag: tar.TypeChar},
	} {
		f.Add(uint8(0), hostile(h))
	}
	f.Add(uint8(0), hostile(tar.Header{Name: "x", Typeflag: tar.TypeReg, Size: 1}, tar.Header{Name: "x", Typeflag: tar.TypeReg, Size: 1}))
	f.Add(uint8(0), hostile(tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: ".."}, tar.Header{Name: "d/x", Typeflag: tar.TypeReg, Size: 1}))
	f.Add(uint8(1), pulltest.Gzip([]byte("not a tar")))
	f.Add(uint8(0), hostile(tar.Header{Name: "t", Typeflag: tar.TypeReg, Size: 9})[:700]) // truncated

	f.Fuzz(func(t *testing.T, kind uint8, layer []byte) {
		mt := fuzzMediaTypes[int(kind)%len(fuzzMediaTypes)]
		base := fuzzDir(t)
		dest := filepath.Join(base, "dest")
		st, err := store.Open(filepath.Join(dest, "store"))
		if err != nil {
			t.Fatal(err)
		}
		root := filepath.Join(dest, "root")
		ld := digest.FromBytes(layer)
		files, scanErr := scan(mt, layer)
		w, parseErr := weightOf(ld, mt, layer, files)
		l := pull.Layer{Digest: ld, MediaType: mt, Size: int64(len(layer))}
		extractErr := pull.Extract(context.Background(), l, files, bytes.NewReader(layer), st)
		if scanErr != nil && extractErr == nil {
			t.Fatalf("Extract accepted a layer that does not read as %s: %v", mt, scanErr)
		}
		if extractErr == nil && parseErr == nil {
			p := &materialize.Placer{Store: st, Root: root}
			if err := p.Begin(w); err != nil {
				t.Fatalf("Begin: %v", err)
			}
			if err := p.Place(context.Background(), w); err != nil {
				t.Fatalf("Place of a weight Extract and Parse accepted: %v", err)
			}
			for _, f := range w.Files {
				p := filepath.Join(p.Dir(w), filepath.FromSlash(f.Path))
				if w.Format == pull.FormatV0 {
					p = filepath.Join(root, filepath.FromSlash(f.Path))
				}
				if b, err := os.ReadFile(p); err != nil || digest.FromBytes(b).String() != f.Digest {
					t.Fatalf("delivered %s: %v (digest %s, want %s)", p, err, digest.FromBytes(b), f.Digest)
				}
			}
		}
		checkContained(t, base, dest)
	})
}

// fuzzDir is a fresh directory, on tmpfs where there is one: the store
// and the markers fsync, which on a disk costs more than the rest of an
// iteration.
func fuzzDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		return t.TempDir()
	}
	d, err := os.MkdirTemp("/dev/shm", "cog-fuzz-extract-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// scan lists the files a layer holds, read leniently with the standard
// readers: what a config blob describing these bytes would list.
func scan(mt string, layer []byte) ([]pull.File, error) {
	var r io.Reader = bytes.NewReader(layer)
	switch mt {
	case wire.MediaTypeLayerTarGzip, pull.MediaTypeV0Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		r = zr
	case pull.MediaTypeV0Zstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	}
	if mt == pull.MediaTypeV0Gzip || mt == pull.MediaTypeV0Raw || mt == pull.MediaTypeV0Zstd {
		b, err := io.ReadAll(io.LimitReader(r, 1<<20))
		return []pull.File{{Path: "/src/m.bin", Size: int64(len(b)), Digest: digest.FromBytes(b).String(), Layer: digest.FromBytes(layer), Name: "m"}}, err
	}
	var files []pull.File
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return files, err
		}
		b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return files, err
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		files = append(files, pull.File{Path: h.Name, Size: int64(len(b)), Digest: digest.FromBytes(b).String(), Layer: digest.FromBytes(layer)})
	}
}

// weightOf checks a weight of one layer holding files as a pull would:
// through the manifest and config blob parsers.
func weightOf(ld digest.Digest, mt string, layer []byte, files []pull.File) (pull.Weight, error) {
	m := ocispec.Manifest{Layers: []ocispec.Descriptor{{MediaType: mt, Digest: ld, Size: int64(len(layer))}}}
	if mt == pull.MediaTypeV0Gzip || mt == pull.MediaTypeV0Raw || mt == pull.MediaTypeV0Zstd {
		if len(files) != 1 {
			return pull.Weight{}, errors.New("no file")
		}
		m.Layers[0].Annotations = map[string]string{wire.AnnotationLegacyWeightsDest: files[0].Path, wire.AnnotationLegacyWeightsName: "m",
			wire.AnnotationLegacyWeightsDigestOriginal: files[0].Digest, wire.AnnotationLegacyWeightsSizeUncompressed: strconv.FormatInt(files[0].Size, 10)}
		return pull.ParseV0(digest.FromString("manifest"), m)
	}
	type cf struct {
		Path   string `json:"path"`
		Layer  string `json:"layer"`
		Size   int64  `json:"size"`
		Digest string `json:"digest"`
	}
	c := struct {
		Name      string `json:"name"`
		Target    string `json:"target"`
		SetDigest string `json:"setDigest"`
		Files     []cf   `json:"files"`
	}{Name: "w", Target: "/src/w", Files: []cf{}}
	var pf []pack.File
	for _, f := range files {
		c.Files = append(c.Files, cf{f.Path, ld.String(), f.Size, f.Digest})
		pf = append(pf, pack.File{Path: f.Path, Size: f.Size, Digest: f.Digest})
	}
	c.SetDigest = pack.SetDigest(pf)
	cfg, _ := json.Marshal(c)
	m.Config = ocispec.Descriptor{MediaType: wire.MediaTypeWeightConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	return pull.ParseV1(digest.FromString("manifest"), m, cfg)
}

// checkContained walks base (the parent of dest): dest is all it holds,
// and nothing under dest is a symlink or a special file.
func checkContained(t *testing.T, base, dest string) {
	t.Helper()
	top, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 1 || top[0].Name() != filepath.Base(dest) {
		var names []string
		for _, e := range top {
			names = append(names, e.Name())
		}
		t.Fatalf("written beside the destination: %s holds %s", base, strings.Join(names, ", "))
	}
	err = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			t.Fatalf("symlink written at %s", p)
		}
		if !d.Type().IsRegular() && !d.IsDir() {
			t.Fatalf("special file written at %s (%v)", p, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
