package pull_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/cog-frontend/cog-frontend/internal/registry"
	"github.com/cog-frontend/cog-frontend/internal/registry/registrytest"
	"github.com/cog-frontend/cog-frontend/weights/pull"
	"github.com/cog-frontend/cog-frontend/weights/pull/pulltest"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

// TestPullHonoursProxyEnvironment runs pulls in child processes (Go reads
// the proxy variables once per process) against a registry named by a
// non-loopback name, registry.test, that only the proxy can reach: with
// HTTP_PROXY the pull goes through the proxy; with NO_PROXY naming the
// registry it goes direct, and fails to resolve the name.
func TestPullHonoursProxyEnvironment(t *testing.T) {
	if ref := os.Getenv("PULL_PROXY_CHILD_REF"); ref != "" {
		proxyChild(ref)
		return
	}
	reg := registrytest.New()
	pulltest.Publish(reg, repo, "v1", pulltest.Weight("w", "/src/w", map[string][]byte{"a": []byte("through the proxy")}, testPack))
	srv := registrytest.Serve(t, reg)
	upstream, _ := url.Parse(srv.URL)
	var proxied atomic.Int64
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(upstream)
		r.Out.Host = r.In.Host
	}}
	proxy := registrytest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Host != "registry.test:5000" {
			http.Error(w, "not a proxy request for registry.test: "+r.URL.String(), http.StatusBadGateway)
			return
		}
		proxied.Add(1)
		rp.ServeHTTP(w, r)
	}))
	child := func(noProxy string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPullHonoursProxyEnvironment$", "-test.count=1")
		cmd.Env = append(os.Environ(), "PULL_PROXY_CHILD_REF=registry.test:5000/"+repo+":v1", "COG_CACHE_DIR="+t.TempDir(),
			"HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "NO_PROXY="+noProxy, "no_proxy="+noProxy)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := child("")
	if err != nil || !strings.Contains(out, "pulled 1 file") || proxied.Load() == 0 {
		t.Fatalf("through HTTP_PROXY: %v, %d proxied requests\n%s", err, proxied.Load(), out)
	}
	before := proxied.Load()
	out, err = child("registry.test")
	t.Logf("NO_PROXY=registry.test: %s", strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]))
	if err == nil || proxied.Load() != before || !strings.Contains(out, "registry.test") {
		t.Fatalf("NO_PROXY=registry.test: %v, %d proxied requests\n%s", err, proxied.Load()-before, out)
	}
}

func proxyChild(ref string) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err == nil {
		client := &registry.Client{MaxRetries: -1, Hosts: &registry.Hosts{Insecure: []string{r.Context().RegistryStr()}}}
		src := pull.RegistrySource{Client: client, Repo: client.Repo(r.Context(), registry.Pull)}
		var ws []pull.Weight
		if ws, err = pull.Resolve(context.Background(), src, r.Identifier(), nil); err == nil {
			st, _ := store.Open(os.Getenv("COG_CACHE_DIR"))
			err = (&pull.Fetcher{Store: st, Source: src}).Fetch(context.Background(), ws)[0]
			if err == nil {
				fmt.Printf("pulled %d file(s)\n", len(ws[0].Files))
			}
		}
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}
