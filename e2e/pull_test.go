//go:build e2e

package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// blobCounter is a reverse proxy in front of the real registry that counts
// the blob bytes it serves: what crosses the network on a pull.
type blobCounter struct {
	srv   *httptest.Server
	bytes atomic.Int64
	gets  atomic.Int64
}

func newBlobCounter(t testing.TB, registry string) *blobCounter {
	t.Helper()
	target, _ := url.Parse("http://" + registry)
	c := &blobCounter{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/blobs/sha256:") {
			c.gets.Add(1)
			resp.Body = &countBody{ReadCloser: resp.Body, n: &c.bytes}
		}
		return nil
	}
	c.srv = httptest.NewServer(rp)
	t.Cleanup(c.srv.Close)
	return c
}

func (c *blobCounter) host() string { return strings.TrimPrefix(c.srv.URL, "http://") }

// safetensors writes the cpu-weights example's file format: W (2x3) and b
// (2), float32, as examples/cpu-weights/make_weights.py does.
func safetensors(w [6]float32, b [2]float32) []byte {
	header := `{"W":{"data_offsets":[0,24],"dtype":"F32","shape":[2,3]},"b":{"data_offsets":[24,32],"dtype":"F32","shape":[2]}}`
	header += strings.Repeat(" ", (8-len(header)%8)%8)
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.LittleEndian, uint64(len(header)))
	buf.WriteString(header)
	_ = binary.Write(&buf, binary.LittleEndian, w)
	_ = binary.Write(&buf, binary.LittleEndian, b)
	return buf.Bytes()
}

// runWithEnv runs a command with extra environment variables.
func runWithEnv(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	t.Logf("$ %s %s  (%s)\n%s", name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), tail(buf.String(), 30))
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, buf.String())
	}
	return buf.String()
}

// predict runs the image tagged ref in layout with the weights of root
// bind-mounted read-only at their targets and returns the prediction.
func predict(t *testing.T, layout, ref string, mounts []bindMount) any {
	t.Helper()
	c := runImage(t, layout, ref, mounts)
	c.waitReady(t, 3*time.Minute)
	out := c.curl(t, "-X", "POST", "-H", "Content-Type: application/json",
		"-d", `{"input":{"x1":1,"x2":1,"x3":1}}`, "http://127.0.0.1:5000/predictions")
	var pred struct {
		Status string `json:"status"`
		Output any    `json:"output"`
	}
	if err := json.Unmarshal([]byte(out), &pred); err != nil || pred.Status != "succeeded" {
		t.Fatalf("POST /predictions: %v: %s\n%s", err, out, c.logs())
	}
	return pred.Output
}

// TestPullRoundTrip is the consumer side end to end, real parts only:
// weights import, push to the registry, weights pull --dest into an empty
// root (through a counting proxy), the model image under runc with the
// pulled weight bind-mounted read-only, and a prediction the weights
// determine. Then one weight file changes: v2 is pushed and pulled into
// the same root; only the changed layer crosses the network, the large
// unchanged file is not downloaded again, and the prediction follows.
func TestPullRoundTrip(t *testing.T) {
	env := testEnv(t)
	repo := uniqueRepo(t, env.Registry, "pull")
	dir := filepath.Join(t.TempDir(), "cpu-weights")
	cpR(t, filepath.Join(env.Root, "examples", "cpu-weights"), dir)
	// A second, large file (64 MiB: a raw layer of its own) next to the
	// small model file, so the weight has two layers and v2 changes one.
	big := make([]byte, 64<<20)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < len(big); i += 8 {
		binary.LittleEndian.PutUint64(big[i:], rng.Uint64())
	}
	if err := os.WriteFile(filepath.Join(dir, "weights/linear/filler.safetensors"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	pushEnv := []string{"COG_CACHE_DIR=" + filepath.Join(t.TempDir(), "push-store")}
	nodeStore := filepath.Join(t.TempDir(), "node-store")
	nodeEnv := []string{"COG_CACHE_DIR=" + nodeStore}
	root := filepath.Join(t.TempDir(), "root")
	layout := filepath.Join(dir, ".cog", "bundle")
	proxy := newBlobCounter(t, env.Registry)
	viaProxy := proxy.host() + "/" + repo.RepositoryStr()
	mounts := []bindMount{{Source: filepath.Join(root, "src/weights/linear"), Target: "/src/weights/linear"}}

	publish := func(tag string) {
		runWithEnv(t, dir, pushEnv, env.Binary, "weights", "import")
		runWithEnv(t, dir, pushEnv, env.Binary, "build", "--progress", "plain", "-t", repo.Tag(tag).String())
		runWithEnv(t, dir, pushEnv, env.Binary, "push", "--builder", env.Builder, "--progress", "plain", repo.Tag(tag).String())
	}

	// v1
	publish("v1")
	out := runWithEnv(t, dir, nodeEnv, env.Binary, "weights", "pull", viaProxy+":v1", "--dest", root)
	if !strings.Contains(out, "placed") {
		t.Errorf("pull output:\n%s", out)
	}
	v1bytes := proxy.bytes.Load()
	if v1bytes < int64(len(big)) || v1bytes > int64(len(big))*11/10 {
		t.Errorf("cold pull moved %d blob bytes for a %d byte weight", v1bytes, len(big))
	}
	for _, p := range []string{"model.safetensors", "filler.safetensors", ".cog/ready"} {
		if _, err := os.Stat(filepath.Join(root, "src/weights/linear", p)); err != nil {
			t.Errorf("after the pull: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "src/weights/linear/.cog/downloading")); err == nil {
		t.Error("downloading marker left after a complete pull")
	}
	if got := predict(t, layout, "cog-image.v1", mounts); !reflect.DeepEqual(got, []any{6.5, 14.5}) {
		t.Fatalf("v1 prediction %v, want [6.5 14.5]", got)
	}

	// The same pull again: ready with the same set digest, nothing moves.
	before := proxy.bytes.Load()
	out = runWithEnv(t, dir, nodeEnv, env.Binary, "weights", "pull", viaProxy+":v1", "--dest", root)
	if !strings.Contains(out, "unchanged") || proxy.bytes.Load()-before > 4096 {
		t.Errorf("re-pull of a ready target moved %d blob bytes:\n%s", proxy.bytes.Load()-before, out)
	}

	// v2: W[0] becomes [2, 2, 3], so the first output goes from 6.5 to 7.5.
	if err := os.WriteFile(filepath.Join(dir, "weights/linear/model.safetensors"),
		safetensors([6]float32{2, 2, 3, 4, 5, 6}, [2]float32{0.5, -0.5}), 0o644); err != nil {
		t.Fatal(err)
	}
	publish("v2")
	// Pull v2 the way a node that has the project would: no REF, the
	// weights of cog.yaml + weights.lock at model: (pointed at the proxy).
	y, _ := os.ReadFile(filepath.Join(dir, "cog.yaml"))
	y = []byte(strings.Replace(string(y), "model: 127.0.0.1:5001/examples/cpu-weights", "model: "+viaProxy, 1))
	if err := os.WriteFile(filepath.Join(dir, "cog.yaml"), y, 0o644); err != nil {
		t.Fatal(err)
	}
	before = proxy.bytes.Load()
	out = runWithEnv(t, dir, nodeEnv, env.Binary, "weights", "pull", "--dest", root, "--json")
	moved := proxy.bytes.Load() - before
	if moved > 1<<20 {
		t.Errorf("v2 pull moved %d blob bytes; only the small changed layer should cross the network", moved)
	}
	if !strings.Contains(out, `"layersSkipped":1`) || !strings.Contains(out, `"outcome":"placed"`) {
		t.Errorf("v2 pull output:\n%s", out)
	}
	t.Logf("blob bytes over the network: v1 cold %d, v2 %d", v1bytes, moved)
	if got := predict(t, layout, "cog-image.v2", mounts); !reflect.DeepEqual(got, []any{7.5, 14.5}) {
		t.Fatalf("v2 prediction %v, want [7.5 14.5]", got)
	}
	if out := runWithEnv(t, dir, nodeEnv, env.Binary, "weights", "verify", root); !strings.Contains(out, "linear") || !strings.Contains(out, " ok ") {
		t.Errorf("verify:\n%s", out)
	}
	// The node's store lifecycle: v1's model file is no longer used by any
	// target, the filler is (hard-linked): prune removes exactly the former.
	out = runWithEnv(t, dir, nodeEnv, env.Binary, "weights", "prune", "--json")
	var rep struct {
		Removed []string `json:"removed"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rep); err != nil || len(rep.Removed) != 1 {
		t.Errorf("prune: %v\n%s", err, out)
	}
	if out := runWithEnv(t, dir, nodeEnv, env.Binary, "weights", "verify", root); !strings.Contains(out, " ok ") {
		t.Errorf("verify after prune:\n%s", out)
	}
	// Only v2's files are in the target (the swap left nothing of v1).
	ents, _ := os.ReadDir(filepath.Join(root, "src/weights"))
	if len(ents) != 1 {
		t.Errorf("beside the target: %v", ents)
	}

	// Through a mirror: a new node (empty store and root) pulls the bundle
	// by its real name, and a containerd-style hosts.toml sends the reads
	// to a mirror (the counting proxy) in front of the real registry,
	// after a dead one.
	hosts := t.TempDir()
	if err := os.MkdirAll(filepath.Join(hosts, env.Registry), 0o755); err != nil {
		t.Fatal(err)
	}
	toml := "server = \"http://" + env.Registry + "\"\n\n[host.\"http://127.0.0.1:1\"]\n  capabilities = [\"pull\", \"resolve\"]\n\n" +
		"[host.\"http://" + proxy.host() + "\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
	if err := os.WriteFile(filepath.Join(hosts, env.Registry, "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	before = proxy.bytes.Load()
	root3 := filepath.Join(t.TempDir(), "root")
	runWithEnv(t, dir, []string{"COG_CACHE_DIR=" + filepath.Join(t.TempDir(), "store3"), "COG_HOSTS_DIR=" + hosts},
		env.Binary, "weights", "pull", repo.Tag("v2").String(), "--dest", root3)
	if moved := proxy.bytes.Load() - before; moved < int64(len(big)) {
		t.Errorf("the mirror served %d blob bytes of a %d byte weight", moved, len(big))
	}
	if out := runWithEnv(t, dir, nil, env.Binary, "weights", "verify", root3); !strings.Contains(out, " ok ") {
		t.Errorf("verify after the mirrored pull:\n%s", out)
	}
}

// throttled is a counting proxy in front of the registry that serves blob
// bodies at about rate bytes per second, so a test can kill a pull halfway.
func newThrottledCounter(t *testing.T, registry string, rate int64) *blobCounter {
	t.Helper()
	target, _ := url.Parse("http://" + registry)
	c := &blobCounter{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/blobs/sha256:") {
			c.gets.Add(1)
			resp.Body = &slowBody{ReadCloser: resp.Body, n: &c.bytes, rate: rate}
		}
		return nil
	}
	c.srv = httptest.NewServer(rp)
	t.Cleanup(c.srv.Close)
	return c
}

type slowBody struct {
	io.ReadCloser
	n    *atomic.Int64
	rate int64
}

func (s *slowBody) Read(b []byte) (int, error) {
	if len(b) > 64<<10 {
		b = b[:64<<10]
	}
	n, err := s.ReadCloser.Read(b)
	s.n.Add(int64(n))
	time.Sleep(time.Duration(int64(n) * int64(time.Second) / s.rate))
	return n, err
}

// TestPullResumesAfterKill9: a pull killed with SIGKILL halfway through a
// 64 MiB layer leaves no file in the target and nothing unverified in the
// store; the next run continues from the kept bytes, so the bytes over the
// network across both runs stay within 1.1x the weight.
func TestPullResumesAfterKill9(t *testing.T) {
	env := testEnv(t)
	repo := uniqueRepo(t, env.Registry, "pull-kill")
	dir, _ := weightsProject(t, env, repo.String())
	writeImageLayout(t, filepath.Join(dir, "img"))
	run(t, dir, env.Binary, "bundle", "--image", "oci-layout://"+filepath.Join(dir, "img")+":latest", "--push", repo.Tag("v1").String(), "--progress", "plain")
	lraw, _ := os.ReadFile(filepath.Join(dir, "weights.lock"))
	var lk struct {
		Weights []struct{ SizeCompressed int64 }
	}
	if err := json.Unmarshal(lraw, &lk); err != nil || len(lk.Weights) != 1 {
		t.Fatalf("weights.lock: %v", err)
	}
	weight := lk.Weights[0].SizeCompressed

	proxy := newThrottledCounter(t, env.Registry, 24<<20)
	ref := proxy.host() + "/" + repo.RepositoryStr() + ":v1"
	nodeEnv := append(os.Environ(), "COG_CACHE_DIR="+filepath.Join(t.TempDir(), "node-store"))
	root := filepath.Join(t.TempDir(), "root")
	first := exec.Command(env.Binary, "weights", "pull", ref, "--dest", root)
	first.Env = nodeEnv
	var out1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for proxy.bytes.Load() < weight*45/100 {
		if time.Now().After(deadline) {
			_ = first.Process.Kill()
			t.Fatalf("the first pull never got to 45%%:\n%s", out1.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	atKill := proxy.bytes.Load()
	t.Logf("killed after %d of %d bytes\n%s", atKill, weight, out1.String())
	if atKill >= weight {
		t.Fatal("the first pull finished before the kill; nothing to resume")
	}
	target := filepath.Join(root, "src/weights/minilm")
	if _, err := os.Stat(filepath.Join(target, ".cog/downloading")); err != nil {
		t.Errorf("no downloading marker after the kill: %v", err)
	}
	if _, err := os.Stat(filepath.Join(target, "model.safetensors")); err == nil {
		t.Error("a file of the interrupted pull is in the target")
	}
	second := exec.Command(env.Binary, "weights", "pull", ref, "--dest", root, "--json")
	second.Env = nodeEnv
	out2, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("second pull: %v\n%s", err, out2)
	}
	total := proxy.bytes.Load()
	t.Logf("blob bytes across both runs: %d for a %d byte weight (%.3fx)", total, weight, float64(total)/float64(weight))
	if !strings.Contains(string(out2), `"event":"resume"`) {
		t.Errorf("the second pull did not resume:\n%s", out2)
	}
	if float64(total) > 1.1*float64(weight) {
		t.Errorf("%d bytes over the network for a %d byte weight across the kill (%.2fx), want at most 1.1x", total, weight, float64(total)/float64(weight))
	}
	if _, err := os.Stat(filepath.Join(target, ".cog/ready")); err != nil {
		t.Errorf("not ready after the second pull: %v", err)
	}
	if out := runWithEnv(t, dir, nil, env.Binary, "weights", "verify", root); !strings.Contains(out, " ok ") {
		t.Errorf("verify:\n%s", out)
	}
}

// TestPullBuildxRoute: the model image built by plain `docker buildx build
// -f cog.yaml` through the frontend image, its weights attached by
// `cog-frontend bundle`, pulled by `weights pull --dest` into an empty root,
// and the image run under runc with the pulled weight: the prediction the
// weights determine.
func TestPullBuildxRoute(t *testing.T) {
	env := testEnv(t)
	fe := frontendImage(t, env)
	repo := uniqueRepo(t, env.Registry, "pull-buildx")
	dir := prepareExample(t, env, "cpu-weights", fe)
	pushEnv := []string{"COG_CACHE_DIR=" + filepath.Join(t.TempDir(), "push-store")}
	runWithEnv(t, dir, pushEnv, env.Binary, "weights", "import")
	layout := filepath.Join(t.TempDir(), "oci")
	mustBuildx(t, env, dir, "-f", "cog.yaml", "--output", "type=oci,dest="+layout+",tar=false", ".")
	runWithEnv(t, dir, pushEnv, env.Binary, "bundle", "--image", "oci-layout://"+layout+":latest", "--push", repo.Tag("v1").String(), "--progress", "plain")

	root := filepath.Join(t.TempDir(), "root")
	out := runWithEnv(t, t.TempDir(), []string{"COG_CACHE_DIR=" + filepath.Join(t.TempDir(), "node-store")},
		env.Binary, "weights", "pull", repo.Tag("v1").String(), "--dest", root)
	if !strings.Contains(out, "placed") {
		t.Errorf("pull output:\n%s", out)
	}
	mounts := []bindMount{{Source: filepath.Join(root, "src/weights/linear"), Target: "/src/weights/linear"}}
	if got := predict(t, layout, "latest", mounts); !reflect.DeepEqual(got, []any{6.5, 14.5}) {
		t.Fatalf("prediction %v, want [6.5 14.5]", got)
	}
}
