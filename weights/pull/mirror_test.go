package pull_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/internal/registry"
	"github.com/cog-frontend/cog-frontend/internal/registry/registrytest"
	"github.com/cog-frontend/cog-frontend/weights/pull"
	"github.com/cog-frontend/cog-frontend/weights/pull/pulltest"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

func TestParseHostsKeepsFileOrderAndCapabilities(t *testing.T) {
	hf, err := pull.ParseHosts([]byte(`server = "https://upstream.example.com"

[host."http://b.local:5000"]
  capabilities = ["pull", "resolve"]

[host."https://a.local"]
  capabilities = ["pull"]

[host."https://push-only.local"]
  capabilities = ["push"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if hf.Server.Host != "upstream.example.com" || len(hf.Hosts) != 3 {
		t.Fatalf("%+v", hf)
	}
	if h := hf.Hosts[0]; h.URL.String() != "http://b.local:5000" || !h.Pull || !h.Resolve {
		t.Errorf("first host %+v", h)
	}
	if h := hf.Hosts[1]; h.URL.Host != "a.local" || !h.Pull || h.Resolve {
		t.Errorf("second host %+v", h)
	}
	if h := hf.Hosts[2]; h.Pull || h.Resolve {
		t.Errorf("push-only host %+v", h)
	}
	for _, bad := range []string{`[host."ftp://x"]`, `[host."https://x/prefix"]`, `[host."https://x"]` + "\ncapabilities = [\"fly\"]", `server = 3`} {
		if _, err := pull.ParseHosts([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestLoadHostsFindsTheRegistryOrDefault(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "reg.local:5000"), 0o755)
	os.WriteFile(filepath.Join(dir, "reg.local:5000", "hosts.toml"), []byte(`[host."http://m1"]`), 0o644)
	hf, err := pull.LoadHosts(dir, "reg.local:5000")
	if err != nil || hf == nil || hf.Hosts[0].URL.Host != "m1" {
		t.Fatalf("%v %+v", err, hf)
	}
	if hf, err := pull.LoadHosts(dir, "other"); err != nil || hf != nil {
		t.Fatalf("no config: %v %+v", err, hf)
	}
	os.MkdirAll(filepath.Join(dir, "_default"), 0o755)
	os.WriteFile(filepath.Join(dir, "_default", "hosts.toml"), []byte(`[host."http://m2"]`), 0o644)
	if hf, err := pull.LoadHosts(dir, "other"); err != nil || hf.Hosts[0].URL.Host != "m2" {
		t.Fatalf("default: %v %+v", err, hf)
	}
	os.WriteFile(filepath.Join(dir, "_default", "hosts.toml"), []byte(`[[[`), 0o644)
	if _, err := pull.LoadHosts(dir, "other"); err == nil || !strings.Contains(err.Error(), "hosts.toml") {
		t.Fatalf("bad file: %v", err)
	}
}

// TestPullThroughMirrorFallsBackToUpstream: a dead mirror first, a live
// mirror second (a registry holding the content), the upstream last. The
// bytes come from the live mirror; with the live mirror emptied, from the
// upstream.
func TestPullThroughMirrorFallsBackToUpstream(t *testing.T) {
	files := testFiles()
	w := pulltest.Weight("minilm", "/src/weights/minilm", files, testPack)
	upstream, mirror := registrytest.New(), registrytest.New()
	var upGets, mirGets atomic.Int64
	count := func(n *atomic.Int64) func(http.ResponseWriter, *http.Request) bool {
		return func(_ http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, "/blobs/") {
				n.Add(1)
			}
			return false
		}
	}
	upstream.Before, mirror.Before = count(&upGets), count(&mirGets)
	pulltest.Publish(upstream, repo, "v1", w)
	pulltest.Publish(mirror, repo, "v1", w)
	up, mir := registrytest.Serve(t, upstream), registrytest.Serve(t, mirror)
	hf, err := pull.ParseHosts([]byte(`server = "http://` + registrytest.Host(up) + `"
[host."http://127.0.0.1:1"]
  capabilities = ["pull", "resolve"]
[host."http://` + registrytest.Host(mir) + `"]
  capabilities = ["pull", "resolve"]
`))
	if err != nil {
		t.Fatal(err)
	}
	client := &registry.Client{BackoffBase: time.Millisecond}
	r, _ := registry.ParseRepository("registry.example.com/" + repo) // the name in the reference; hosts.toml says where it is
	src, err := pull.MirrorsFor(client, hf, r)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := pull.Resolve(context.Background(), src, "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := store.Open(t.TempDir())
	fetchAll(t, &pull.Fetcher{Store: st, Source: src}, ws)
	checkStored(t, st, files)
	if mirGets.Load() == 0 || upGets.Load() != 0 {
		t.Fatalf("blob requests: mirror %d, upstream %d; want all from the mirror", mirGets.Load(), upGets.Load())
	}
	// A mirror without the content: the upstream serves it.
	empty := registrytest.New()
	emp := registrytest.Serve(t, empty)
	hf, _ = pull.ParseHosts([]byte(`server = "http://` + registrytest.Host(up) + `"
[host."http://` + registrytest.Host(emp) + `"]
`))
	src, _ = pull.MirrorsFor(client, hf, r)
	st2, _ := store.Open(t.TempDir())
	ws, err = pull.Resolve(context.Background(), src, "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	fetchAll(t, &pull.Fetcher{Store: st2, Source: src}, ws)
	checkStored(t, st2, files)
	if upGets.Load() == 0 {
		t.Fatal("the upstream served nothing though the mirror was empty")
	}
}
