package pull

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/cog-frontend/cog-frontend/wire"
)

// memSink is a content store in memory that checks digests as the real
// one does.
type memSink struct{ blobs map[string][]byte }

func (m *memSink) Has(d string) bool { _, ok := m.blobs[d]; return ok }
func (m *memSink) Put(_ context.Context, expected string, r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	got := digest.FromBytes(b).String()
	if expected != "" && got != expected {
		return "", fmt.Errorf("wrote %s, expected %s: %w", got, expected, store.ErrDigestMismatch)
	}
	if m.blobs == nil {
		m.blobs = map[string][]byte{}
	}
	m.blobs[got] = b
	return got, nil
}

type entry struct {
	hdr  tar.Header
	data string
}

func tarOf(t *testing.T, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.hdr
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(e.data))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if e.data != "" {
			if _, err := tw.Write([]byte(e.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func reg(name, data string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg}, data: data}
}

func fileOf(p, data string) File {
	return File{Path: p, Size: int64(len(data)), Digest: digest.FromString(data).String()}
}

func TestExtractAcceptsDirectoriesAndListedFiles(t *testing.T) {
	raw := tarOf(t, entry{hdr: tar.Header{Name: "sub/", Typeflag: tar.TypeDir, Mode: 0o755}}, reg("a.json", "{}"), reg("sub/b.bin", "bee"))
	sink := &memSink{}
	l := Layer{Digest: digest.FromBytes(raw), MediaType: wire.MediaTypeLayerTar, Size: int64(len(raw))}
	if err := Extract(context.Background(), l, []File{fileOf("a.json", "{}"), fileOf("sub/b.bin", "bee")}, bytes.NewReader(raw), sink); err != nil {
		t.Fatal(err)
	}
	if string(sink.blobs[digest.FromString("bee").String()]) != "bee" {
		t.Fatalf("sub/b.bin not stored: %v", sink.blobs)
	}
}

func TestExtractRefusesUnsafeEntries(t *testing.T) {
	listed := []File{fileOf("ok.txt", "ok")}
	cases := []struct {
		name    string
		entries []entry
		files   []File
		want    string
	}{
		{"absolute path", []entry{reg("/etc/passwd", "x")}, []File{fileOf("etc/passwd", "x")}, "absolute"},
		{"dot-dot", []entry{reg("../escape", "x")}, listed, ".."},
		{"dot-dot inside", []entry{reg("a/../../escape", "x")}, listed, ".."},
		{"dot-dot directory", []entry{{hdr: tar.Header{Name: "../d/", Typeflag: tar.TypeDir}}}, listed, ".."},
		{"symlink", []entry{{hdr: tar.Header{Name: "ok.txt", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}}, listed, "symlink"},
		{"hardlink", []entry{{hdr: tar.Header{Name: "ok.txt", Typeflag: tar.TypeLink, Linkname: "other"}}}, listed, "hardlink"},
		{"char device", []entry{{hdr: tar.Header{Name: "ok.txt", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}}, listed, "device"},
		{"block device", []entry{{hdr: tar.Header{Name: "ok.txt", Typeflag: tar.TypeBlock, Devmajor: 8}}}, listed, "device"},
		{"fifo", []entry{{hdr: tar.Header{Name: "ok.txt", Typeflag: tar.TypeFifo}}}, listed, "FIFO"},
		{"duplicate", []entry{reg("ok.txt", "ok"), reg("ok.txt", "ok")}, listed, "twice"},
		{"unlisted", []entry{reg("ok.txt", "ok"), reg("extra.txt", "zz")}, listed, "does not list"},
		{"size differs", []entry{reg("ok.txt", "okay")}, listed, "4 bytes in the layer, 2 in the config blob"},
		{"missing listed file", []entry{reg("ok.txt", "ok")}, []File{fileOf("ok.txt", "ok"), fileOf("gone.txt", "g")}, "missing from the layer"},
		{"content differs", []entry{reg("ok.txt", "no")}, listed, "expected"},
		{"control byte", []entry{reg("a\x01b", "x")}, listed, "control byte"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := tarOf(t, c.entries...)
			l := Layer{Digest: digest.FromBytes(raw), MediaType: wire.MediaTypeLayerTar, Size: int64(len(raw))}
			sink := &memSink{}
			err := Extract(context.Background(), l, c.files, bytes.NewReader(raw), sink)
			var ue *ErrUnsafe
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a refusal mentioning %q", err, c.want)
			}
			if !strings.Contains(err.Error(), l.Digest.String()) {
				t.Errorf("error does not name the layer: %v", err)
			}
		})
	}
}

func TestExtractV0LayerChecksSize(t *testing.T) {
	data := "raw weights"
	l := Layer{Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), MediaType: MediaTypeV0Raw}
	f := fileOf("/src/w.bin", data)
	sink := &memSink{}
	if err := Extract(context.Background(), l, []File{f}, strings.NewReader(data), sink); err != nil {
		t.Fatal(err)
	}
	f.Size--
	sink = &memSink{}
	if err := Extract(context.Background(), l, []File{f}, strings.NewReader(data), sink); err == nil {
		t.Fatal("a file longer than announced was accepted")
	}
	if err := Extract(context.Background(), Layer{MediaType: "application/x-evil"}, nil, strings.NewReader(""), sink); err == nil {
		t.Fatal("unknown media type accepted")
	}
}

func TestExtractReadsPastFilesAlreadyStored(t *testing.T) {
	raw := tarOf(t, reg("a", "aaa"), reg("b", "bbb"))
	sink := &memSink{blobs: map[string][]byte{digest.FromString("aaa").String(): []byte("aaa")}}
	l := Layer{Digest: digest.FromBytes(raw), MediaType: wire.MediaTypeLayerTar}
	r := &countReader{r: bytes.NewReader(raw)}
	if err := Extract(context.Background(), l, []File{fileOf("a", "aaa"), fileOf("b", "bbb")}, r, sink); err != nil {
		t.Fatal(err)
	}
	if r.n != int64(len(raw)) {
		t.Fatalf("read %d of %d bytes: the whole layer must be consumed for its digest", r.n, len(raw))
	}
	if len(sink.blobs) != 2 {
		t.Fatalf("store holds %d blobs", len(sink.blobs))
	}
}
