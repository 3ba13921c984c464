package weights

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cog-frontend/cog-frontend/weights/pack"
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

// sha is the digest of b, as the tests spell expected values.
func sha(b []byte) string { return pack.Digest(b) }
