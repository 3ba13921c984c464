package weights

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rewritingReader rewrites its file in place (same size, other bytes) once
// the first read returned: what an editor or a download does to a file
// while the import reads it.
type rewritingReader struct {
	io.ReadCloser
	path, content string
	done          bool
	t             *testing.T
}

func (r *rewritingReader) Read(b []byte) (int, error) {
	if len(b) > 4 {
		b = b[:4] // read in small steps so the rewrite lands mid-file
	}
	n, err := r.ReadCloser.Read(b)
	if !r.done {
		r.done = true
		if werr := os.WriteFile(r.path, []byte(r.content), 0o644); werr != nil {
			r.t.Fatal(werr)
		}
	}
	return n, err
}

func TestImportRefusesAFileRewrittenWhileRead(t *testing.T) {
	for _, tc := range []struct {
		name    string
		exclude []string // an excluded file is only hashed (hashOne), an included one packed
	}{{"packed", nil}, {"hashed only", []string{"b.bin"}}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProject(t, map[string]string{"a.bin": "first version of a", "b.bin": "first version of b"})
			p.cfg.Weights[0].Sources[0].Exclude = tc.exclude
			victim := filepath.Join(p.dir, "weights", "minilm", "b.bin")
			orig := openWeightFile
			t.Cleanup(func() { openWeightFile = orig })
			openWeightFile = func(name string) (io.ReadCloser, error) {
				f, err := orig(name)
				if err != nil || name != victim {
					return f, err
				}
				return &rewritingReader{ReadCloser: f, path: victim, content: "other version of b", t: t}, nil
			}
			_, err := Import(context.Background(), p.importOpts())
			if err == nil {
				l, _ := p.lock(t)
				t.Fatalf("import recorded a lock for a file rewritten while it was read: %+v", l.Weights[0].Files)
			}
			for _, want := range []string{victim, "changed while", "weights import"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if _, b, _ := readLock(p.lockPath()); b != nil {
				t.Errorf("weights.lock was written")
			}
			// Nothing writes to it now: the next import records the new version.
			openWeightFile = orig
			p.imp(t, nil)
			l, _ := p.lock(t)
			if len(tc.exclude) == 0 {
				for _, f := range l.Weights[0].Files {
					if f.Path == "b.bin" && f.Digest != "sha256:"+hexSum([]byte("other version of b")) {
						t.Errorf("b.bin recorded as %s", f.Digest)
					}
				}
			}
		})
	}
}
