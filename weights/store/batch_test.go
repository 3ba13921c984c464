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
