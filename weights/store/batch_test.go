package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A batch's files are invisible until Commit, then all visible; a bad
// digest is refused at Put; Abort leaves no ingest behind.
func TestBatchCommitsTogether(t *testing.T) {
	st := mustStore(t)
	b, err := st.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{"one", "two", "three"}
	for _, body := range bodies {
		if _, err := b.Put(context.Background(), sha([]byte(body)), strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		if b.Has(sha([]byte(body))) {
			t.Fatalf("%q is visible before Commit", body)
		}
	}
	if _, err := b.Put(context.Background(), sha([]byte("four")), strings.NewReader("not four")); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("a wrong digest: %v", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, body := range bodies {
		got, err := os.ReadFile(filepath.Join(st.Root(), "blobs", "sha256", strings.TrimPrefix(sha([]byte(body)), "sha256:")))
		if err != nil || string(got) != body {
			t.Fatalf("%q after Commit: %q, %v", body, got, err)
		}
	}

	b, err = st.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(context.Background(), "", strings.NewReader("aborted")); err != nil {
		t.Fatal(err)
	}
	b.Abort()
	if st.Has(sha([]byte("aborted"))) {
		t.Fatal("an aborted batch's file is visible")
	}
	if left, _ := os.ReadDir(filepath.Join(st.Root(), "ingest")); len(left) != 0 {
		t.Fatalf("%d ingest files left", len(left))
	}
}

// Committing bytes already in the store keeps the blob that is there (it
// may be hard-linked into a weight target) and leaves no ingest behind.
func TestCommitKeepsTheBlobAlreadyStored(t *testing.T) {
	st := mustStore(t)
	body := []byte("same bytes")
	commit := func() {
		in, err := st.NewIngest()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.Write(body); err != nil {
			t.Fatal(err)
		}
		if _, err := in.Commit(sha(body)); err != nil {
			t.Fatal(err)
		}
	}
	commit()
	p, _ := st.Path(sha(body))
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	commit()
	after, err := os.Stat(p)
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the blob was replaced (%v)", err)
	}
	if links, _ := usage(after); links != 1 {
		t.Fatalf("the blob has %d links, want 1", links)
	}
	if left, _ := os.ReadDir(filepath.Join(st.Root(), "ingest")); len(left) != 0 {
		t.Fatalf("%d ingest files left", len(left))
	}
	if locks, _ := filepath.Glob(filepath.Join(st.Root(), "locks", "*.lock")); len(locks) != 0 {
		t.Errorf("lock files of commits left: %v", locks)
	}
}
