package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPlanPruneKeepsReferencedAndEvictsLeastRecentlyUsed(t *testing.T) {
	t0 := time.Unix(1000, 0)
	blobs := []BlobInfo{
		{Digest: "sha256:a", Size: 10, Links: 1, Used: t0.Add(3 * time.Second)},
		{Digest: "sha256:b", Size: 20, Links: 2, Used: t0},                  // hard-linked into a target
		{Digest: "sha256:c", Size: 30, Links: 1, Used: t0.Add(time.Second)}, // least recently used
		{Digest: "sha256:d", Size: 40, Links: 1, Used: t0},                  // in a lock
		{Digest: "sha256:e", Size: 50, Links: 1, Used: t0.Add(2 * time.Second)},
	}
	refs := map[string]bool{"sha256:d": true}
	names := func(bs []BlobInfo) string {
		var s []string
		for _, b := range bs {
			s = append(s, strings.TrimPrefix(b.Digest, "sha256:"))
		}
		return strings.Join(s, ",")
	}
	if rm, over := PlanPrune(blobs, refs, -1); names(rm) != "c,e,a" || over != 0 {
		t.Errorf("prune all unreferenced: %s over %d", names(rm), over)
	}
	if rm, _ := PlanPrune(blobs, refs, 100); names(rm) != "c,e" {
		t.Errorf("cap 100 of 150: %s", names(rm))
	}
	if rm, _ := PlanPrune(blobs, refs, 150); len(rm) != 0 {
		t.Errorf("under the cap: %s", names(rm))
	}
	if rm, over := PlanPrune(blobs, refs, 10); names(rm) != "c,e,a" || over != 50 {
		t.Errorf("cap below what is in use: %s over %d", names(rm), over)
	}
}

func TestBlobsTouchRemoveAndRoots(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, _ := s.Put(ctx, "", strings.NewReader("aaa"))
	b, _ := s.Put(ctx, "", strings.NewReader("bbbb"))
	pa, _ := s.Path(a)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(pa, old, old)
	os.Link(pa, filepath.Join(t.TempDir(), "linked"))
	s.Touch(b)
	bs, err := s.Blobs()
	if err != nil || len(bs) != 2 {
		t.Fatalf("%v %+v", err, bs)
	}
	for _, bi := range bs {
		switch bi.Digest {
		case a:
			if bi.Links != 2 || bi.Used.After(old.Add(time.Second)) || bi.Size != 3 {
				t.Errorf("a: %+v", bi)
			}
		case b:
			if time.Since(bi.Used) > time.Minute {
				t.Errorf("b was touched: %+v", bi)
			}
		}
	}
	if err := s.Remove(b); err != nil || s.Has(b) {
		t.Fatalf("remove: %v", err)
	}
	if err := s.Remove(b); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	r1 := t.TempDir()
	for range 2 {
		if err := s.AddRoot(r1); err != nil {
			t.Fatal(err)
		}
	}
	s.AddRoot(filepath.Join(r1, "gone"))
	if got := s.Roots(); len(got) != 1 || got[0] != r1 {
		t.Fatalf("roots %v", got)
	}
}

func TestPruneLockWaitsForPulls(t *testing.T) {
	s, _ := Open(t.TempDir())
	unlock, err := s.UseLock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	unlock2, err := s.UseLock(context.Background()) // pulls share it
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := s.PruneLock(ctx); err == nil {
		t.Fatal("a prune got its lock while pulls ran")
	}
	unlock()
	unlock2()
	u, err := s.PruneLock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u()
}

func TestCleanIngests(t *testing.T) {
	s, _ := Open(t.TempDir())
	os.WriteFile(filepath.Join(s.Root(), "ingest", "0123456789abcdef"), []byte("left by a killed process"), 0o644)
	p, _ := s.Resume("x")
	p.Write([]byte("fresh partial"))
	p.Close()
	q, _ := s.Resume("y")
	q.Write([]byte("old partial"))
	q.Close()
	old := time.Now().Add(-30 * 24 * time.Hour)
	os.Chtimes(q.Path(), old, old)
	n, err := s.CleanIngests(7 * 24 * time.Hour)
	if err != nil || n == 0 {
		t.Fatalf("%d %v", n, err)
	}
	if _, err := os.Stat(p.Path()); err != nil {
		t.Error("a fresh partial was removed")
	}
	if _, err := os.Stat(q.Path()); err == nil {
		t.Error("an old partial was kept")
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(ents) != 0 {
		t.Error("ingest files kept")
	}
}

func TestCleanStaleIngestsKeepsTheIngestsOfRunningWriters(t *testing.T) {
	s, _ := Open(t.TempDir())
	live, err := s.NewIngest()
	if err != nil {
		t.Fatal(err)
	}
	live.Write([]byte("being written"))
	stale := filepath.Join(s.Root(), "ingest", "0123456789abcdef")
	os.WriteFile(stale, []byte("left by a killed process"), 0o644)
	// Another process opening the store.
	if _, err := Open(s.Root()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("the stale ingest was kept")
	}
	d, err := live.Commit("")
	if err != nil || !s.Has(d) {
		t.Fatalf("the running ingest did not survive the cleaning: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(ents) != 0 {
		t.Errorf("left in ingest: %v", ents)
	}
}
