package pack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/wire"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// Cog's published value (spec §7), kept in wire; a different one would
// make every lock written by Cog look stale to us and vice versa.
func TestEnvelopeFormatIsCogs(t *testing.T) {
	const cog = "sha256:ce2d53f8dd962ace393450e0abadbe227304897be87753a503b61f9c8525726e"
	if got := (Options{}).EnvelopeFormat(); got != cog || wire.EnvelopeFormat != cog {
		t.Fatalf("EnvelopeFormat = %s (wire: %s), want %s", got, wire.EnvelopeFormat, cog)
	}
	if other := (Options{BundleFileMax: 1 << 20}).EnvelopeFormat(); other == cog {
		t.Fatalf("different packing parameters must give a different envelopeFormat")
	}
}

func memOpen(content map[string][]byte) OpenFunc {
	return func(_ context.Context, f File) (io.ReadCloser, error) {
		b, ok := content[f.Path]
		if !ok {
			return nil, fmt.Errorf("no %s", f.Path)
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// smallSet is a fixed synthetic weight: nested folders, a name Go's JSON
// encoder escapes, and an incompressible-extension file.
func smallSet() (map[string][]byte, []File) {
	content := map[string][]byte{
		"config.json":           []byte(`{"hidden_size": 384, "model_type": "bert"}` + "\n"),
		"tokenizer/vocab.txt":   []byte(strings.Repeat("[PAD]\n[UNK]\nhello\nworld\n", 50)),
		"tokenizer/a&b<c>.json": []byte(`{"x": 1}`),
		"onnx/deep/model.onnx":  bytes.Repeat([]byte{0, 1, 2, 3, 250, 251}, 300),
	}
	var files []File
	for p, b := range content {
		files = append(files, File{Path: p, Size: int64(len(b))})
	}
	return content, files
}

func packAll(t *testing.T, content map[string][]byte, files []File, opts Options) ([]LayerPlan, []LayerResult, [][]byte) {
	t.Helper()
	plan := Plan(files, opts)
	var results []LayerResult
	var blobs [][]byte
	for _, lp := range plan {
		var buf bytes.Buffer
		res, err := WriteLayer(context.Background(), lp, memOpen(content), &buf)
		if err != nil {
			t.Fatal(err)
		}
		if res.Layer.Digest != sha(buf.Bytes()) || res.Layer.Size != int64(buf.Len()) {
			t.Fatalf("layer digest/size do not describe the bytes written")
		}
		for i, f := range lp.Files {
			if res.FileDigests[i] != sha(content[f.Path]) {
				t.Fatalf("file digest of %s wrong", f.Path)
			}
		}
		results = append(results, res)
		blobs = append(blobs, buf.Bytes())
	}
	return plan, results, blobs
}

// The tar layout of spec §5 checked on the raw 512-byte blocks, not through
// a tar reader that would hide header details.
func TestTarBytesLayout(t *testing.T) {
	content := map[string][]byte{"a/b/w.safetensors": []byte("0123456789")}
	lp := LayerPlan{Files: []File{{Path: "a/b/w.safetensors", Size: 10}}, MediaType: wire.MediaTypeLayerTar}
	var buf bytes.Buffer
	if _, err := WriteLayer(context.Background(), lp, memOpen(content), &buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// 3 entries (a/, a/b/, file) x (PAX header + PAX records + header), one
	// data block, two zero blocks, and no record padding.
	if want := 512 * (3*3 + 1 + 2); len(b) != want {
		t.Fatalf("layer is %d bytes, want %d", len(b), want)
	}
	block := func(i int) []byte { return b[i*512 : (i+1)*512] }
	field := func(blk []byte, off, n int) string { return strings.TrimRight(string(blk[off:off+n]), "\x00") }
	wantEntries := []struct {
		name, mode string
		typ        byte
	}{{"a/", "0000755", '5'}, {"a/b/", "0000755", '5'}, {"a/b/w.safetensors", "0000644", '0'}}
	for i, e := range wantEntries {
		pax, recs, hdr := block(3*i), block(3*i+1), block(3*i+2)
		if pax[156] != 'x' {
			t.Errorf("entry %d: block %d typeflag %q, want PAX 'x'", i, 3*i, pax[156])
		}
		if got := field(recs, 0, 512); got != "11 atime=0\n11 ctime=0\n" {
			t.Errorf("entry %d: PAX records %q", i, got)
		}
		if got := field(hdr, 0, 100); got != e.name {
			t.Errorf("entry %d: name %q, want %q", i, got, e.name)
		}
		if hdr[156] != e.typ {
			t.Errorf("entry %d: typeflag %q, want %q", i, hdr[156], e.typ)
		}
		if got := field(hdr, 100, 8); got != e.mode {
			t.Errorf("entry %d: mode %q, want %q", i, got, e.mode)
		}
		for _, f := range []struct {
			what      string
			off, n    int
			wantTrimd string
		}{{"uid", 108, 8, "0000000"}, {"gid", 116, 8, "0000000"}, {"mtime", 136, 12, "00000000000"}, {"magic", 257, 8, "ustar\x0000"}, {"uname", 265, 32, ""}, {"gname", 297, 32, ""}} {
			if got := field(hdr, f.off, f.n); got != f.wantTrimd {
				t.Errorf("entry %d: %s %q, want %q", i, f.what, got, f.wantTrimd)
			}
		}
	}
	if got := string(block(9)[:10]); got != "0123456789" {
		t.Errorf("file data %q", got)
	}
	if !bytes.Equal(b[len(b)-1024:], make([]byte, 1024)) {
		t.Errorf("archive does not end with two zero blocks")
	}
}

// gzip header as Go writes it: no name, mtime 0, XFL by level, OS 255.
func TestGzipHeaderAndLevels(t *testing.T) {
	content, files := smallSet()
	plan, _, blobs := packAll(t, content, files, Options{})
	if len(plan) != 1 || !plan[0].Gzip() || len(plan[0].Files) != 4 {
		t.Fatalf("plan %+v, want one gzip bundle of 4 files", plan)
	}
	if want := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff}; !bytes.Equal(blobs[0][:10], want) {
		t.Fatalf("bundle gzip header % x, want % x (level 9 => XFL 2)", blobs[0][:10], want)
	}
	// A gzip layer of one file uses the default level, as Cog's packer does.
	one := map[string][]byte{"big.txt": []byte("hello")}
	_, _, b1 := packAll(t, one, []File{{Path: "big.txt", Size: 5}}, Options{})
	if want := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}; !bytes.Equal(b1[0][:10], want) {
		t.Fatalf("single-file gzip header % x, want % x", b1[0][:10], want)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blobs[0]))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Typeflag == tar.TypeReg {
			got, _ := io.ReadAll(tr)
			if !bytes.Equal(got, content[h.Name]) {
				t.Errorf("%s: content differs", h.Name)
			}
		}
	}
	want := "onnx/ onnx/deep/ tokenizer/ config.json onnx/deep/model.onnx tokenizer/a&b<c>.json tokenizer/vocab.txt"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("tar entries\n got %s\nwant %s", got, want)
	}
}

func TestPlan(t *testing.T) {
	opts := Options{BundleFileMax: 100, BundleSizeMax: 250}
	files := []File{
		{Path: "z.json", Size: 90}, {Path: "a.json", Size: 90}, {Path: "b.json", Size: 90},
		{Path: "c.json", Size: 10}, {Path: "W.SafeTensors", Size: 100}, {Path: "x.txt", Size: 500},
		{Path: "m.bin", Size: 1000},
	}
	var got []string
	for _, l := range Plan(files, opts) {
		var ps []string
		for _, f := range l.Files {
			ps = append(ps, f.Path)
		}
		got = append(got, strings.TrimPrefix(l.MediaType, "application/vnd.oci.image.layer.v1.")+":"+strings.Join(ps, ","))
	}
	want := []string{"tar+gzip:a.json,b.json,c.json", "tar+gzip:z.json", "tar:W.SafeTensors", "tar:m.bin", "tar+gzip:x.txt"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("plan\n got %v\nwant %v", got, want)
	}
}

// The set digest checked against coreutils: sha256sum lines sorted with
// LC_ALL=C sort, joined without the final newline.
func TestSetDigestMatchesSha256sum(t *testing.T) {
	dir := t.TempDir()
	content, files := smallSet()
	for p, b := range content {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), b, 0o644)
	}
	for i := range files {
		files[i].Digest = sha(content[files[i].Path])
	}
	cmd := exec.Command("sh", "-c", `find * -type f -exec sha256sum {} + | LC_ALL=C sort | head -c -1 | sha256sum | cut -d' ' -f1`)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sha256sum pipeline: %v", err)
	}
	if got, want := SetDigest(files), "sha256:"+strings.TrimSpace(string(out)); got != want {
		t.Fatalf("SetDigest %s, sha256sum pipeline %s", got, want)
	}
}

// Golden bytes: layer digests, config blob and manifest of smallSet under
// the spec packing and under thresholds that split it into raw and gzip
// layers. Regenerate with -update only for a deliberate format change
// (which also needs an envelopeRevision bump).
func TestGoldenConfigAndManifest(t *testing.T) {
	content, files := smallSet()
	for _, tc := range []struct {
		name string
		opts Options
	}{{"default", Options{}}, {"split", Options{BundleFileMax: 1000, BundleSizeMax: 1100}}} {
		t.Run(tc.name, func(t *testing.T) {
			plan, results, _ := packAll(t, content, files, tc.opts)
			var pf []PackedFile
			var layers []PackedLayer
			var digested []File
			for i, lp := range plan {
				layers = append(layers, results[i].Layer)
				for k, f := range lp.Files {
					pf = append(pf, PackedFile{Path: f.Path, Size: f.Size, Digest: results[i].FileDigests[k], Layer: results[i].Layer.Digest})
					digested = append(digested, File{Path: f.Path, Size: f.Size, Digest: results[i].FileDigests[k]})
				}
			}
			set := SetDigest(digested)
			cfg, err := ConfigBlob("minilm", "/src/weights/minilm", set, pf)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Manifest("minilm", "/src/weights/minilm", set, cfg, layers)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(cfg), `a\u0026b\u003cc\u003e.json`) {
				t.Errorf("config blob does not use Go's HTML escaping: %s", cfg)
			}
			var ld []string
			for _, l := range layers {
				ld = append(ld, l.MediaType+" "+l.Digest)
			}
			got := fmt.Sprintf("%s\n%s\n%s\nmanifest-digest %s\n", strings.Join(ld, "\n"), cfg, m, Digest(m))
			golden(t, filepath.Join("testdata", "golden-"+tc.name+".txt"), got)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != got {
		t.Fatalf("%s differs:\n got %s\nwant %s", path, got, want)
	}
}

// The set digest does not depend on how files are packed; layer digests do.
func TestSetDigestIndependentOfPacking(t *testing.T) {
	content, files := smallSet()
	sets := map[string]bool{}
	for _, o := range []Options{{}, {BundleFileMax: 10, BundleSizeMax: 10}, {BundleFileMax: 1000, BundleSizeMax: 500}} {
		plan, results, _ := packAll(t, content, files, o)
		var d []File
		for i, lp := range plan {
			for k, f := range lp.Files {
				d = append(d, File{Path: f.Path, Size: f.Size, Digest: results[i].FileDigests[k]})
			}
		}
		sets[SetDigest(d)] = true
	}
	if len(sets) != 1 {
		t.Fatalf("set digest varies with packing: %v", sets)
	}
}

func TestWriteLayerRejectsChangedFile(t *testing.T) {
	content := map[string][]byte{"a.bin": []byte("abc")}
	for _, size := range []int64{2, 4} {
		lp := LayerPlan{Files: []File{{Path: "a.bin", Size: size}}, MediaType: wire.MediaTypeLayerTar}
		_, err := WriteLayer(context.Background(), lp, memOpen(content), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "a.bin") || !strings.Contains(err.Error(), "changed") {
			t.Fatalf("size %d: err = %v, want a changed-file error naming a.bin", size, err)
		}
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"a", "a/b.json", "../x", "a//b", "a\\b", "a\x00b", "\xff", "./a", "a/", "/abs", "a\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidatePath(p)
		if err != nil {
			if !strings.Contains(err.Error(), "path") {
				t.Fatalf("error %q does not say it is about a path", err)
			}
			return
		}
		// Accepted paths are safe to use as tar names and to join under a
		// target directory.
		if strings.ContainsAny(p, "\\\x00") || strings.HasPrefix(p, "/") || filepath.Clean(p) != p || slices.Contains(strings.Split(p, "/"), "..") {
			t.Fatalf("accepted unsafe path %q", p)
		}
		for _, c := range []byte(p) {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("accepted control byte in %q", p)
			}
		}
	})
}
