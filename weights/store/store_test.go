package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestStoreConcurrentPutsAndVerification(t *testing.T) {
	st := mustStore(t)
	body := strings.Repeat("blob", 100000)
	want := sha([]byte(body))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := st.Put(context.Background(), "", strings.NewReader(body))
			if err == nil && d != want {
				err = os.ErrInvalid
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	p, _ := st.Path(want)
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o444 {
		t.Fatalf("blob %v, mode %v: want a read-only file (safe to hard-link)", err, fi.Mode())
	}
	if ing, _ := os.ReadDir(filepath.Join(st.Root(), "ingest")); len(ing) != 0 {
		t.Fatalf("ingest files left behind: %d", len(ing))
	}
	// A body that does not match the expected digest never becomes visible.
	bad := sha([]byte("other"))
	if _, err := st.Put(context.Background(), bad, strings.NewReader(body+"x")); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("mismatch accepted: %v", err)
	}
	if st.Has(bad) || st.Has(sha([]byte(body+"x"))) {
		t.Fatalf("a rejected blob is visible")
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func mustStore(t *testing.T) *Store {
	t.Helper()
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestPartialResumesAcrossOpensAndCommitsVerified(t *testing.T) {
	st := mustStore(t)
	p, err := st.Resume("https://example.com/w.bin")
	if err != nil {
		t.Fatal(err)
	}
	p.SetETag("v1")
	p.Write([]byte("hello "))
	p.Close()
	if st.Has(sha([]byte("hello "))) {
		t.Fatal("a partial is visible as a blob")
	}
	p, err = st.Resume("https://example.com/w.bin")
	if err != nil || p.Size() != 6 || p.ETag() != "v1" {
		t.Fatalf("resumed: size %d, etag %q, %v", p.Size(), p.ETag(), err)
	}
	p.Write([]byte("world"))
	d, path, err := p.Commit(sha([]byte("hello world")))
	if err != nil || d != sha([]byte("hello world")) || !st.Has(d) {
		t.Fatalf("commit: %s %s %v", d, path, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "hello world" {
		t.Errorf("blob holds %q", b)
	}

	p, _ = st.Resume("other")
	p.Write([]byte("junk"))
	if err := p.Reset(); err != nil || p.Size() != 0 {
		t.Fatalf("reset: %d %v", p.Size(), err)
	}
	p.Write([]byte("changed"))
	if _, _, err := p.Commit(sha([]byte("expected"))); err == nil || !strings.Contains(err.Error(), "expected") {
		t.Errorf("mismatch committed: %v", err)
	}
	if p, _ := st.Resume("other"); p.Size() != 0 {
		t.Errorf("a mismatched partial was kept (%d bytes)", p.Size())
	}
}
