package pull

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/cog-frontend/cog-frontend/wire"
)

// directEnv is a layout source holding one layer and an empty store.
type directEnv struct {
	src LayoutSource
	st  *store.Store
}

func newDirectEnv(t *testing.T) *directEnv {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &directEnv{src: LayoutSource{Dir: t.TempDir()}, st: st}
}

func (e *directEnv) layer(t *testing.T, mediaType string, b []byte) Layer {
	t.Helper()
	d := digest.FromBytes(b)
	p := filepath.Join(e.src.Dir, "blobs", "sha256", d.Encoded())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return Layer{Digest: d, MediaType: mediaType, Size: int64(len(b))}
}

func (e *directEnv) fetch(l Layer, files ...File) (*Fetcher, error) {
	for i := range files {
		files[i].Layer = l.Digest
	}
	f := &Fetcher{Store: e.st, Source: e.src}
	return f, f.Fetch(context.Background(), []Weight{{Name: "w", Format: FormatV1, Files: files, Layers: []Layer{l}}})[0]
}

// leftovers fails if a refused layer left anything behind in the store.
func (e *directEnv) leftovers(t *testing.T, file File) {
	t.Helper()
	if e.st.Has(file.Digest) {
		t.Error("the file of a refused layer is in the store")
	}
	for _, d := range []string{"downloads", "ingest"} {
		if left, _ := os.ReadDir(filepath.Join(e.st.Root(), d)); len(left) != 0 {
			t.Errorf("%s holds %d entries after a refused layer", d, len(left))
		}
	}
}

// A layer of one raw file takes the direct path, which checks the whole
// tar as Extract does: whatever Extract refuses, it refuses too.
func TestDirectRefusesWhatExtractRefuses(t *testing.T) {
	data := strings.Repeat("w", 5000)
	file := fileOf("model.bin", data)
	for _, c := range []struct {
		name    string
		entries []entry
		want    string
	}{
		{"an entry after the file", []entry{reg("model.bin", data), reg("extra.bin", "x")}, "does not list"},
		{"the file twice", []entry{reg("model.bin", data), reg("model.bin", data)}, "appears twice"},
		{"a symlink before the file", []entry{{hdr: tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}, reg("model.bin", data)}, "symlinks"},
		{"a path with ..", []entry{reg("../model.bin", data)}, ".."},
		{"another size", []entry{reg("model.bin", data+"!")}, "in the config blob"},
		{"another file", []entry{reg("other.bin", data)}, "does not list"},
		{"no file", []entry{{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}}}, "missing from the layer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newDirectEnv(t)
			l := e.layer(t, wire.MediaTypeLayerTar, tarOf(t, c.entries...))
			_, err := e.fetch(l, file)
			var u *ErrUnsafe
			if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a refusal mentioning %q", err, c.want)
			}
			e.leftovers(t, file)
		})
	}
}

func TestDirectStoresAFileUnderDirectories(t *testing.T) {
	data := strings.Repeat("v", 3000)
	file := fileOf("a/b/model.bin", data)
	e := newDirectEnv(t)
	l := e.layer(t, wire.MediaTypeLayerTar, tarOf(t,
		entry{hdr: tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755}},
		entry{hdr: tar.Header{Name: "a/b/", Typeflag: tar.TypeDir, Mode: 0o755}},
		reg("a/b/model.bin", data)))
	f, err := e.fetch(l, file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(mustPath(t, e.st, file.Digest))
	if err != nil || string(got) != data {
		t.Fatalf("stored %d bytes (%v), want the file", len(got), err)
	}
	if f.Stats.BytesFetched.Load() != l.Size {
		t.Errorf("fetched %d bytes of a %d byte layer", f.Stats.BytesFetched.Load(), l.Size)
	}
}

func TestDirectFebruary2026RawLayer(t *testing.T) {
	data := strings.Repeat("r", 4000)
	file := fileOf("/src/weights/model.bin", data)
	e := newDirectEnv(t)
	l := e.layer(t, MediaTypeV0Raw, []byte(data))
	if _, err := e.fetch(l, file); err != nil {
		t.Fatal(err)
	}
	if !e.st.Has(file.Digest) {
		t.Fatal("the file is not in the store")
	}

	e = newDirectEnv(t)
	l = e.layer(t, MediaTypeV0Raw, []byte(data+"more"))
	_, err := e.fetch(l, file)
	var u *ErrUnsafe
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "the bundle says") {
		t.Fatalf("a raw layer longer than its file: %v", err)
	}
	e.leftovers(t, file)
}

// A partial whose bytes are not the file's (the source changed, or the
// disk lost them) fails its digest on resume; the layer then comes again
// from its start, once, and the good file is stored.
func TestDirectResumeOfBadBytesStartsOver(t *testing.T) {
	data := strings.Repeat("g", 20000)
	file := fileOf("model.bin", data)
	e := newDirectEnv(t)
	raw := tarOf(t, reg("model.bin", data))
	l := e.layer(t, wire.MediaTypeLayerTar, raw)
	head, err := readHead(l, file, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.st.Resume("pull file " + l.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetPrefix(head); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte(strings.Repeat("b", 8000))); err != nil {
		t.Fatal(err)
	}
	p.Close()
	f, err := e.fetch(l, file)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Stats.BytesResumed.Load(); got != int64(len(head))+8000 {
		t.Errorf("resumed %d bytes, want the %d kept", got, len(head)+8000)
	}
	if want := l.Size - int64(len(head)) - 8000 + l.Size; f.Stats.BytesFetched.Load() != want {
		t.Errorf("fetched %d bytes, want the rest and then the whole layer (%d)", f.Stats.BytesFetched.Load(), want)
	}
	got, err := os.ReadFile(mustPath(t, e.st, file.Digest))
	if err != nil || string(got) != data {
		t.Fatalf("stored %d bytes (%v), want the file", len(got), err)
	}
}

func mustPath(t *testing.T, st *store.Store, d string) string {
	t.Helper()
	p, err := st.Path(d)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
