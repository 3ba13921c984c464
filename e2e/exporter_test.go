//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/exporter"
	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// uniqueRepo gives each test its own repository so byte counts and dedup
// are not disturbed by other tests or earlier runs.
func uniqueRepo(t testing.TB, registry, base string) name.Repository {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	r, err := name.NewRepository(registry + "/e2e/" + base + "-" + hex.EncodeToString(b[:]))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// writeTestImage writes a small but valid linux/amd64 image (one gzip'd
// tar layer) and a BuildKit-style attestation manifest into an OCI layout
// source and returns their descriptors.
func writeTestImage(t testing.TB, dir string) (exporter.LayoutSource, []ocispec.Descriptor) {
	t.Helper()
	put := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		p := filepath.Join(dir, "blobs", "sha256", d.Encoded())
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	body := []byte("print('hello')\n")
	tw.WriteHeader(&tar.Header{Name: "src/predict.py", Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)})
	tw.Write(body)
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	cfg := fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"WorkingDir":"/src","Labels":{"run.cog.version":"e2e"}},"rootfs":{"type":"layers","diff_ids":["%s"]}}`, digest.FromBytes(raw.Bytes()))
	manifest := func(cfgMT string, cfg []byte, lmt string, layer []byte) ocispec.Descriptor {
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
			Config: ocispec.Descriptor{MediaType: cfgMT, Digest: put(cfg), Size: int64(len(cfg))},
			Layers: []ocispec.Descriptor{{MediaType: lmt, Digest: put(layer), Size: int64(len(layer))}}}
		m.SchemaVersion = 2
		b, _ := json.Marshal(m)
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: put(b), Size: int64(len(b))}
	}
	img := manifest(ocispec.MediaTypeImageConfig, []byte(cfg), ocispec.MediaTypeImageLayerGzip, gz.Bytes())
	img.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	att := manifest("application/vnd.in-toto+json", []byte(`{}`), "application/vnd.in-toto+json", []byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document"}`))
	att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{wire.AnnotationDockerReferenceType: wire.DockerReferenceTypeAttestation, wire.AnnotationDockerReferenceDigest: img.Digest.String()}
	return exporter.LayoutSource{Dir: dir}, []ocispec.Descriptor{img, att}
}

// fileBlob is a blob backed by a file on disk; reads are counted.
func fileBlob(t testing.TB, path, mt string, reads *int64Counter) exporter.Blob {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	return exporter.Blob{
		Descriptor: ocispec.Descriptor{MediaType: mt, Digest: digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)), Size: n},
		Open: func(context.Context) (io.ReadCloser, error) {
			f, err := os.Open(path)
			if err != nil || reads == nil {
				return f, err
			}
			return &countedFile{File: f, c: reads}, nil
		},
	}
}

type int64Counter struct {
	mu sync.Mutex
	n  int64
}

func (c *int64Counter) add(n int64) { c.mu.Lock(); c.n += n; c.mu.Unlock() }

type countedFile struct {
	*os.File
	c *int64Counter
}

func (f *countedFile) Read(b []byte) (int, error) {
	n, err := f.File.Read(b)
	f.c.add(int64(n))
	return n, err
}

// randomFile writes size random bytes.
func randomFile(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		t.Fatal(err)
	}
}

// weightFromFiles builds a weight in the spec's manifest format (§8) whose
// layers are the given files (the exporter does not look inside layers).
func weightFromFiles(t testing.TB, name, target string, reads *int64Counter, files ...string) exporter.Weight {
	t.Helper()
	set := digest.FromString(name + strings.Join(files, ","))
	w := exporter.Weight{Name: name, SetDigest: set.String()}
	var layers []map[string]any
	for _, f := range files {
		b := fileBlob(t, f, "application/vnd.oci.image.layer.v1.tar", reads)
		w.Layers = append(w.Layers, b)
		w.Size += b.Descriptor.Size
		layers = append(layers, map[string]any{"mediaType": b.Descriptor.MediaType, "size": b.Descriptor.Size, "digest": b.Descriptor.Digest,
			"annotations": map[string]string{wire.AnnotationWeightSizeUncompressed: strconv.FormatInt(b.Descriptor.Size, 10)}})
	}
	cfg := []byte(fmt.Sprintf(`{"name":%q,"target":%q,"setDigest":%q,"files":[]}`, name, target, set))
	w.Config = exporter.Blob{Descriptor: ocispec.Descriptor{MediaType: wire.MediaTypeWeightConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(cfg)), nil }}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "artifactType": wire.ArtifactTypeWeight,
		"config": w.Config.Descriptor, "layers": layers,
		"annotations": map[string]string{wire.AnnotationWeightName: name, wire.AnnotationWeightSetDigest: set.String(), wire.AnnotationWeightTarget: target},
	})
	w.Manifest = m
	return w
}

// testBundle is an image + attestation + two weights from files in dir.
func testBundle(t *testing.T, dir string, sizes ...int64) (*exporter.Bundle, []string) {
	t.Helper()
	src, ms := writeTestImage(t, filepath.Join(dir, "image"))
	var files []string
	for i, s := range sizes {
		p := filepath.Join(dir, fmt.Sprintf("file%d.safetensors", i))
		randomFile(t, p, s)
		files = append(files, p)
	}
	half := (len(files) + 1) / 2
	ws := []exporter.Weight{weightFromFiles(t, "minilm", "/src/weights/minilm", nil, files[:half]...)}
	if half < len(files) {
		ws = append(ws, weightFromFiles(t, "tok.v2", "/src/weights/tok", nil, files[half:]...))
	}
	b, err := exporter.Assemble(ms, ws, src)
	if err != nil {
		t.Fatal(err)
	}
	return b, files
}

// tool finds an OCI tool: COG_DEV_TOOLS, then PATH, else builds crane and
// oras from their Go modules into the user cache (once).
func tool(t testing.TB, env *Env, name string) string {
	t.Helper()
	if p := filepath.Join(env.ToolsDir, name); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	pkgs := map[string]string{
		"crane": "github.com/google/go-containerregistry/cmd/crane@v0.22.1",
		"oras":  "oras.land/oras/cmd/oras@v1.3.6",
	}
	pkg, ok := pkgs[name]
	if !ok {
		t.Fatalf("%s not found in COG_DEV_TOOLS or PATH; install it (Debian: apt-get install %s)", name, name)
	}
	cache, _ := os.UserCacheDir()
	bin := filepath.Join(cache, "cog-frontend-e2e", "bin")
	if p := filepath.Join(bin, name); fileExists(p) {
		return p
	}
	cmd := exec.Command("go", "install", pkg)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s (%s) from the Go module proxy failed: %v\n%s", name, pkg, err, out)
	}
	return filepath.Join(bin, name)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func runTool(t testing.TB, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// verifyBlob downloads a blob from the registry and checks its digest.
func verifyBlob(t *testing.T, repo name.Repository, d ocispec.Descriptor) {
	t.Helper()
	resp, err := http.Get("http://" + repo.RegistryStr() + "/v2/" + repo.RepositoryStr() + "/blobs/" + d.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	v := d.Digest.Verifier()
	n, _ := io.Copy(v, resp.Body)
	if resp.StatusCode != 200 || n != d.Size || !v.Verified() {
		t.Errorf("blob %s in %s: status %d, %d bytes (want %d), verified %v", d.Digest, repo, resp.StatusCode, n, d.Size, v.Verified())
	}
}

func allBlobs(b *exporter.Bundle) []ocispec.Descriptor {
	var ds []ocispec.Descriptor
	for _, w := range b.Weights {
		ds = append(ds, w.Config.Descriptor)
		for _, l := range w.Layers {
			ds = append(ds, l.Descriptor)
		}
	}
	return ds
}

func TestExporterPushReadBackByThreeTools(t *testing.T) {
	env := testEnv(t)
	ctx := context.Background()
	b, _ := testBundle(t, t.TempDir(), 3<<20, 1<<20, 2<<20)
	repo := uniqueRepo(t, env.Registry, "roundtrip")
	ref := repo.Tag("v1")
	p := &exporter.Pusher{ChunkSize: 1 << 20}
	res, err := p.Push(ctx, b, ref)
	if err != nil {
		t.Fatal(err)
	}
	crane, oras := tool(t, env, "crane"), tool(t, env, "oras")
	skopeo := tool(t, env, "skopeo")

	// The index as each tool sees it.
	for _, raw := range []string{
		runTool(t, crane, "manifest", ref.String()),
		runTool(t, oras, "manifest", "fetch", "--plain-http", ref.String()),
		runTool(t, skopeo, "inspect", "--tls-verify=false", "--raw", "docker://"+ref.String()),
	} {
		if digest.FromString(raw) != b.Index.Digest {
			t.Errorf("index read back differs from the one pushed:\n%s\n%s", raw, b.IndexBytes)
		}
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b.IndexBytes, &idx); err != nil || idx.MediaType != ocispec.MediaTypeImageIndex || len(idx.Manifests) != 4 {
		t.Fatalf("index: %v %s", err, b.IndexBytes)
	}
	// Each weight by tag and by digest.
	for _, w := range res.Weights {
		if !strings.HasPrefix(w.Tag, "cog-weight.") {
			t.Errorf("weight tag %q", w.Tag)
		}
		byTag := runTool(t, crane, "digest", repo.Tag(w.Tag).String())
		if strings.TrimSpace(byTag) != w.Descriptor.Digest.String() {
			t.Errorf("weight %s by tag: %s, want %s", w.Name, byTag, w.Descriptor.Digest)
		}
		byDigest := runTool(t, oras, "manifest", "fetch", "--plain-http", repo.Digest(w.Descriptor.Digest.String()).String())
		if !strings.Contains(byDigest, wire.ArtifactTypeWeight) {
			t.Errorf("weight %s by digest: %s", w.Name, byDigest)
		}
		runTool(t, skopeo, "inspect", "--tls-verify=false", "--raw", "docker://"+repo.Tag(w.Tag).String())
	}
	if got := strings.TrimSpace(runTool(t, crane, "digest", repo.Tag("cog-image.v1").String())); got != b.Images[0].Digest.String() {
		t.Errorf("cog-image.v1 = %s, want %s", got, b.Images[0].Digest)
	}
	// Resolving the index for linux/amd64 gives the model image, never a weight.
	if got := strings.TrimSpace(runTool(t, crane, "digest", "--platform", "linux/amd64", ref.String())); got != b.Images[0].Digest.String() {
		t.Errorf("crane resolves linux/amd64 to %s, want the image %s", got, b.Images[0].Digest)
	}
	if got := skopeoResolvedLayers(t, skopeo, "--tls-verify=false", "docker://"+ref.String()); got != imageLayers(t, b) {
		t.Errorf("skopeo resolves linux/amd64 to layers %s, want the image's %s", got, imageLayers(t, b))
	}
	orasRes := runTool(t, oras, "manifest", "fetch", "--plain-http", "--platform", "linux/amd64", "--descriptor", ref.String())
	if !strings.Contains(orasRes, b.Images[0].Digest.String()) {
		t.Errorf("oras resolves linux/amd64 to %s, want the image %s", orasRes, b.Images[0].Digest)
	}
	for _, d := range allBlobs(b) {
		verifyBlob(t, repo, d)
	}
	// Our own inspect reads it back as a bundle.
	out := run(t, env.Root, env.Binary, "inspect", ref.String())
	for _, want := range []string{"minilm", "tok.v2", "linux/amd64", "attestation"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
}

func TestExporterPushDedupUploadsOnlyWhatChanged(t *testing.T) {
	env := testEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	b, files := testBundle(t, dir, 4<<20, 3<<20, 2<<20)
	px := newFaultProxy(t, env.Registry)
	repo := uniqueRepo(t, px.addr(), "dedup")
	p := &exporter.Pusher{}
	if _, err := p.Push(ctx, b, repo.Tag("v1")); err != nil {
		t.Fatal(err)
	}
	first := px.blobBytes.Load()
	if first < 9<<20 {
		t.Fatalf("first push sent %d blob bytes, expected at least the 9 MiB of weights", first)
	}
	// Unchanged: zero blob bytes.
	if _, err := (&exporter.Pusher{}).Push(ctx, b, repo.Tag("v2")); err != nil {
		t.Fatal(err)
	}
	if got := px.blobBytes.Load() - first; got != 0 {
		t.Errorf("re-push of an unchanged bundle uploaded %d blob bytes, want 0", got)
	}
	// One file changed: only its layer (plus the small weight config).
	randomFile(t, files[1], 3<<20)
	src, ms := writeTestImage(t, filepath.Join(dir, "image"))
	w1 := weightFromFiles(t, "minilm", "/src/weights/minilm", nil, files[:2]...)
	w2 := weightFromFiles(t, "tok.v2", "/src/weights/tok", nil, files[2:]...)
	w1.SetDigest = digest.FromString("changed").String()
	b2, err := exporter.Assemble(ms, []exporter.Weight{w1, w2}, src)
	if err != nil {
		t.Fatal(err)
	}
	before := px.blobBytes.Load()
	p3 := &exporter.Pusher{}
	if _, err := p3.Push(ctx, b2, repo.Tag("v3")); err != nil {
		t.Fatal(err)
	}
	sent := px.blobBytes.Load() - before
	if sent != 3<<20 {
		t.Errorf("after changing one 3 MiB file the push uploaded %d blob bytes, want exactly %d", sent, 3<<20)
	}
	if p3.Stats.BlobsUploaded.Load() != 1 {
		t.Errorf("uploaded %d blobs, want 1 (the changed layer; the config is unchanged)", p3.Stats.BlobsUploaded.Load())
	}
	// Another repository of the same registry, told where the blobs live:
	// cross-repository mounts, zero bytes.
	other := uniqueRepo(t, px.addr(), "dedup-mount")
	before = px.blobBytes.Load()
	p4 := &exporter.Pusher{MountFrom: func(digest.Digest) []string { return []string{repo.RepositoryStr()} }}
	if _, err := p4.Push(ctx, b2, other.Tag("v1")); err != nil {
		t.Fatal(err)
	}
	if got := px.blobBytes.Load() - before; got != 0 || p4.Stats.BlobsMounted.Load() != int64(len(allBlobs(b2))+4) {
		t.Errorf("push to a sibling repository sent %d blob bytes and mounted %d blobs; want 0 bytes and %d mounts (image, attestation and weight blobs)", got, p4.Stats.BlobsMounted.Load(), len(allBlobs(b2))+4)
	}
}

func TestExporterPushSurvivesFaults(t *testing.T) {
	env := testEnv(t)
	ctx := context.Background()
	b, _ := testBundle(t, t.TempDir(), 8<<20, 6<<20, 5<<20, 1<<20)
	px := newFaultProxy(t, env.Registry)
	px.set(0.10, 4, 6*time.Second)
	repo := uniqueRepo(t, px.addr(), "faults")
	p := &exporter.Pusher{ChunkSize: 1 << 20, StallTimeout: 2 * time.Second, BackoffBase: 20 * time.Millisecond, MaxRetries: 12}
	res, err := p.Push(ctx, b, repo.Tag("v1"))
	if err != nil {
		t.Fatalf("push through faults failed: %v (injected %v)", err, px.injected)
	}
	for _, k := range []string{"5xx", "reset", "stall"} {
		if px.injectedCount(k) == 0 {
			t.Errorf("no %s fault was injected; the test did not test it", k)
		}
	}
	t.Logf("injected %v; retries %d, resumes %d, blob bytes sent %d", px.injected, p.Stats.Retries.Load(), p.Stats.Resumed.Load(), px.blobBytes.Load())
	direct, _ := name.NewRepository(env.Registry + "/" + repo.RepositoryStr())
	for _, d := range allBlobs(b) {
		verifyBlob(t, direct, d)
	}
	for _, w := range res.Weights {
		req, _ := http.NewRequest(http.MethodHead, "http://"+env.Registry+"/v2/"+repo.RepositoryStr()+"/manifests/"+w.Tag, nil)
		req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != w.Descriptor.Digest.String() {
			t.Errorf("weight %s tag %s: %v %v", w.Name, w.Tag, err, resp)
		}
	}
}

// init turns the test binary into the subprocess of
// TestExporterResumeAfterKill when COG_E2E_PUSH_HELPER is set: it pushes one
// big file blob with a persisted upload session, then exits (before any
// test or TestMain runs), so the parent can kill -9 it mid-upload.
func init() {
	spec := os.Getenv("COG_E2E_PUSH_HELPER")
	if spec == "" {
		return
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "push helper:", err)
		os.Exit(2)
	}
	var a struct{ Repo, File, State string }
	if err := json.Unmarshal([]byte(spec), &a); err != nil {
		fail(err)
	}
	repo, err := name.NewRepository(a.Repo)
	if err != nil {
		fail(err)
	}
	f, err := os.Open(a.File)
	if err != nil {
		fail(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		fail(err)
	}
	d := ocispec.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)), Size: n}
	p := &exporter.Pusher{StateDir: a.State, ChunkSize: 256 << 20}
	open := func(context.Context) (io.ReadCloser, error) { return os.Open(a.File) }
	if err := p.PushBlob(context.Background(), repo, d, "big", open); err != nil {
		fail(err)
	}
	fmt.Printf("resumed=%d\n", p.Stats.Resumed.Load())
	os.Exit(0)
}

func TestExporterResumeAfterKill(t *testing.T) {
	env := testEnv(t)
	dir := t.TempDir()
	const size = 2 << 30 // multi-GiB
	file := filepath.Join(dir, "big.safetensors")
	randomFile(t, file, size)
	px := newFaultProxy(t, env.Registry)
	repo := uniqueRepo(t, px.addr(), "resume")
	spec, _ := json.Marshal(map[string]string{"Repo": repo.String(), "File": file, "State": filepath.Join(dir, "cache")})
	helper := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "COG_E2E_PUSH_HELPER="+string(spec))
		return cmd
	}
	first := helper()
	var out1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for px.blobBytes.Load() < size*45/100 {
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatalf("first run never got to 45%%: %s", out1.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	atKill := px.blobBytes.Load()
	t.Logf("killed after %d of %d bytes", atKill, size)
	if atKill >= size {
		t.Fatalf("the first run finished before it was killed; nothing to resume")
	}
	second := helper()
	out2, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out2)
	}
	total := px.blobBytes.Load()
	t.Logf("bytes sent across both runs: %d (%.3f x blob)", total, float64(total)/size)
	if !strings.Contains(string(out2), "resumed=1") {
		t.Errorf("second run did not resume the persisted session:\n%s", out2)
	}
	if float64(total) > 1.1*size {
		t.Errorf("sent %d bytes for a %d byte blob across the kill (%.2fx), want at most 1.1x", total, size, float64(total)/size)
	}
	b := fileBlob(t, file, "", nil)
	direct, _ := name.NewRepository(env.Registry + "/" + repo.RepositoryStr())
	verifyBlob(t, direct, b.Descriptor)
}

func TestExporterLayoutAndTarLoadIntoTools(t *testing.T) {
	env := testEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	b, _ := testBundle(t, dir, 1<<20, 1<<20)
	out := filepath.Join(dir, "out", "bundle")
	if err := exporter.WriteLayout(ctx, b, out, "v1"); err != nil {
		t.Fatal(err)
	}
	tarOut := filepath.Join(dir, "out", "bundle.tar")
	if err := exporter.WriteTar(ctx, b, tarOut, "v1"); err != nil {
		t.Fatal(err)
	}
	skopeo, oras, crane := tool(t, env, "skopeo"), tool(t, env, "oras"), tool(t, env, "crane")
	raw := runTool(t, skopeo, "inspect", "--raw", "oci:"+out+":v1")
	if digest.FromString(raw) != b.Index.Digest {
		t.Errorf("skopeo reads a different index from the layout: %s", raw)
	}
	if got := runTool(t, oras, "manifest", "fetch", "--oci-layout", out+":v1"); digest.FromString(got) != b.Index.Digest {
		t.Errorf("oras reads a different index from the layout: %s", got)
	}
	for _, w := range b.Weights {
		tag := wire.WeightTag(w.Name, w.SetDigest)
		if got := runTool(t, oras, "manifest", "fetch", "--oci-layout", out+":"+tag); got != string(w.Manifest) {
			t.Errorf("weight %s at %s: %s", w.Name, tag, got)
		}
	}
	if got := runTool(t, skopeo, "inspect", "--raw", "oci-archive:"+tarOut+":v1"); digest.FromString(got) != b.Index.Digest {
		t.Errorf("skopeo reads a different index from the tar: %s", got)
	}
	// skopeo resolves the layout for linux/amd64 to the image, never a weight.
	if got := skopeoResolvedLayers(t, skopeo, "oci:"+out+":v1"); got != imageLayers(t, b) {
		t.Errorf("skopeo resolves the layout for linux/amd64 to layers %s, want the image's %s", got, imageLayers(t, b))
	}
	// Copy the whole bundle from the layout into the registry with oras
	// (skopeo 1.9 re-serialises indexes with artifactType), and the image
	// alone with skopeo; then let crane validate.
	repo := uniqueRepo(t, env.Registry, "layout")
	runTool(t, oras, "cp", "-r", "--to-plain-http", "--from-oci-layout", out+":v1", repo.Tag("v1").String())
	runTool(t, skopeo, "copy", "--preserve-digests", "--dest-tls-verify=false", "oci:"+out+":cog-image.v1", "docker://"+repo.Tag("img").String())
	if got := strings.TrimSpace(runTool(t, crane, "digest", repo.Tag("v1").String())); got != b.Index.Digest.String() {
		t.Errorf("digest %s after copying from the layout, want %s", got, b.Index.Digest)
	}
	if got := strings.TrimSpace(runTool(t, crane, "digest", repo.Tag("img").String())); got != b.Images[0].Digest.String() {
		t.Errorf("image digest %s after skopeo copy from the layout, want %s", got, b.Images[0].Digest)
	}
	runTool(t, crane, "validate", "--remote", repo.Digest(b.Images[0].Digest.String()).String())
	for _, d := range allBlobs(b) {
		verifyBlob(t, repo, d)
	}
}

// skopeoResolvedLayers is the layer list of what skopeo picks for
// linux/amd64 from an index (skopeo's "Digest" field names the index).
func skopeoResolvedLayers(t *testing.T, skopeo string, args ...string) string {
	t.Helper()
	var si struct {
		Os, Architecture string
		Layers           []string
	}
	a := append([]string{"inspect", "--override-os", "linux", "--override-arch", "amd64"}, args...)
	if err := json.Unmarshal([]byte(runTool(t, skopeo, a...)), &si); err != nil {
		t.Fatal(err)
	}
	return si.Os + "/" + si.Architecture + " " + strings.Join(si.Layers, ",")
}

func imageLayers(t *testing.T, b *exporter.Bundle) string {
	t.Helper()
	raw, err := exporter.ReadAllVerified(context.Background(), b.Source, b.Images[0])
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	json.Unmarshal(raw, &m)
	var ls []string
	for _, l := range m.Layers {
		ls = append(ls, l.Digest.String())
	}
	return b.Images[0].Platform.OS + "/" + b.Images[0].Platform.Architecture + " " + strings.Join(ls, ",")
}

// writeImageLayout writes the test image as a complete OCI layout (as
// `docker buildx build --output type=oci,tar=false` would) tagged latest.
func writeImageLayout(t testing.TB, dir string) ocispec.Descriptor {
	t.Helper()
	_, ms := writeTestImage(t, dir)
	img := ms[0]
	img.Annotations = map[string]string{ocispec.AnnotationRefName: "latest"}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{img}}
	idx.SchemaVersion = 2
	raw, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return ms[0]
}

// weightsProject writes a Cog project with one weight (a raw 64 MiB layer
// and a gzip bundle of small files) and imports its weights.lock.
func weightsProject(t *testing.T, e *Env, model string) (string, *struct {
	Weights []struct{ Name, Target, Digest, SetDigest string }
}) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("COG_CACHE_DIR", filepath.Join(dir, ".cache-store"))
	src := filepath.Join(dir, "weights", "minilm")
	os.MkdirAll(filepath.Join(src, "tok"), 0o755)
	randomFile(t, filepath.Join(src, "model.safetensors"), 64<<20)
	os.WriteFile(filepath.Join(src, "config.json"), []byte(`{"hidden":384}`), 0o644)
	os.WriteFile(filepath.Join(src, "tok", "vocab.txt"), []byte("a\nb\nc\n"), 0o644)
	old := time.Now().Add(-time.Hour) // not "racily clean" for the weights stat cache
	filepath.Walk(src, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
	cogYAML := "build:\n  python_version: \"3.11\"\nmodel: " + model + "\nweights:\n  - name: minilm\n    target: /src/weights/minilm\n    source:\n      uri: weights/minilm\n"
	if err := os.WriteFile(filepath.Join(dir, "cog.yaml"), []byte(cogYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, e.Binary, "weights", "import")
	raw, err := os.ReadFile(filepath.Join(dir, "weights.lock"))
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Weights []struct{ Name, Target, Digest, SetDigest string }
	}
	if err := json.Unmarshal(raw, &lock); err != nil || len(lock.Weights) != 1 {
		t.Fatalf("weights.lock: %v %s", err, raw)
	}
	return dir, &lock
}

func TestBundleCLIAttachesLockedWeightsToAnImage(t *testing.T) {
	env := testEnv(t)
	repo := uniqueRepo(t, env.Registry, "bundle-cli")
	dir, lock := weightsProject(t, env, repo.String())
	img := writeImageLayout(t, filepath.Join(dir, "img"))

	out := run(t, dir, env.Binary, "bundle", "--image", "oci-layout://"+filepath.Join(dir, "img")+":latest", "--push", repo.Tag("v1").String(), "--progress", "plain")
	t.Logf("bundle --push output:\n%s", out)
	wtag := wire.WeightTag("minilm", lock.Weights[0].SetDigest)
	for _, want := range []string{repo.Tag("v1").String(), img.Digest.String(), "cog-image.v1", wtag, lock.Weights[0].Digest} {
		if !strings.Contains(out, want) {
			t.Errorf("bundle --push output lacks %q:\n%s", want, out)
		}
	}
	// The weight manifest pushed is the one weights.lock recorded.
	crane := tool(t, env, "crane")
	if got := strings.TrimSpace(runTool(t, crane, "digest", repo.Tag(wtag).String())); got != lock.Weights[0].Digest {
		t.Errorf("%s is %s, weights.lock says %s", wtag, got, lock.Weights[0].Digest)
	}
	if got := strings.TrimSpace(runTool(t, crane, "digest", "--platform", "linux/amd64", repo.Tag("v1").String())); got != img.Digest.String() {
		t.Errorf("linux/amd64 resolves to %s, want the image %s", got, img.Digest)
	}
	var in struct {
		Format  string
		Weights []struct{ Name, Target, SetDigest, Digest string }
	}
	if err := json.Unmarshal([]byte(run(t, dir, env.Binary, "inspect", "--json", repo.Tag("v1").String())), &in); err != nil {
		t.Fatal(err)
	}
	if in.Format != "bundle" || len(in.Weights) != 1 || in.Weights[0].Name != "minilm" || in.Weights[0].Target != "/src/weights/minilm" ||
		in.Weights[0].SetDigest != lock.Weights[0].SetDigest || in.Weights[0].Digest != lock.Weights[0].Digest {
		t.Errorf("inspect = %+v, lock = %+v", in, lock.Weights[0])
	}

	// Again, from the pushed image, to a new tag: nothing to upload.
	out = run(t, dir, env.Binary, "bundle", "--image", repo.Tag("cog-image.v1").String(), "--push", repo.Tag("v2").String(), "--progress", "plain")
	if !strings.Contains(out, "uploaded 0B in 0 blob(s)") {
		t.Errorf("re-bundling an unchanged model uploaded something:\n%s", out)
	}
	// To another repository of the same registry: every blob is mounted
	// (image blobs from the image's repository, weight blobs from where the
	// last push put them), none uploaded.
	repo2 := uniqueRepo(t, env.Registry, "bundle-cli-mount")
	out = run(t, dir, env.Binary, "bundle", "--image", repo.Tag("cog-image.v1").String(), "--push", repo2.Tag("v1").String(), "--progress", "plain")
	if !strings.Contains(out, "uploaded 0B in 0 blob(s); 0 already present, 5 mounted") {
		t.Errorf("push to a sibling repository did not mount all 5 blobs:\n%s", out)
	}
	// To an OCI archive, which skopeo reads.
	tarOut := filepath.Join(dir, "out", "bundle.tar")
	run(t, dir, env.Binary, "bundle", "--image", repo.Tag("cog-image.v1").String(), "--output", "type=oci,dest="+tarOut, "-t", repo.Tag("v3").String(), "--progress", "plain")
	raw := runTool(t, tool(t, env, "skopeo"), "inspect", "--raw", "oci-archive:"+tarOut+":v3")
	if !strings.Contains(raw, wire.ArtifactTypeWeight) || !strings.Contains(raw, lock.Weights[0].Digest) {
		t.Errorf("OCI archive index: %s", raw)
	}
	// Reserved tags are refused with a clear message.
	if out, err := runErr(t, dir, env.Binary, "bundle", "--image", repo.Tag("cog-image.v1").String(), "--push", repo.Tag("cog-weight.x").String()); err == nil || !strings.Contains(out, "reserved") {
		t.Errorf("push to a reserved tag: err %v\n%s", err, out)
	}
}

// TestBuildAndPushCLI runs the frontend in-process against the dev
// buildkitd (BUILDKIT_HOST) and through the buildx builder, then checks
// the OCI layout and the pushed bundle.
func TestBuildAndPushCLI(t *testing.T) {
	env := testEnv(t)
	repo := uniqueRepo(t, env.Registry, "build-cli")
	dir, lock := weightsProject(t, env, repo.String())
	hello, err := os.ReadFile(filepath.Join(env.Root, "examples", "hello", "predict.py"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "predict.py"), hello, 0o644)
	y, _ := os.ReadFile(filepath.Join(dir, "cog.yaml"))
	os.WriteFile(filepath.Join(dir, "cog.yaml"), append(y, []byte("run: predict.py:Runner\n")...), 0o644)

	run(t, dir, env.Binary, "build", "--progress", "plain", "-t", repo.Tag("local").String())
	// The build's staging layout is gone once the bundle is written.
	if left, _ := os.ReadDir(filepath.Join(os.Getenv("COG_CACHE_DIR"), "build")); len(left) > 0 {
		t.Errorf("cog-frontend build left %d staging dir(s) in $COG_CACHE_DIR/build", len(left))
	}
	in := run(t, dir, env.Binary, "inspect", "oci-layout://"+filepath.Join(dir, ".cog", "bundle")+":local")
	for _, want := range []string{"linux/amd64", "minilm", lock.Weights[0].Digest} {
		if !strings.Contains(in, want) {
			t.Errorf("inspect of the built layout lacks %q:\n%s", want, in)
		}
	}
	out := run(t, dir, env.Binary, "push", "--builder", env.Builder, "--progress", "plain", repo.Tag("v1").String())
	if !strings.Contains(out, "cog-image.v1") || !strings.Contains(out, wire.WeightTag("minilm", lock.Weights[0].SetDigest)) {
		t.Errorf("push output:\n%s", out)
	}
	crane := tool(t, env, "crane")
	imgDigest := strings.TrimSpace(runTool(t, crane, "digest", repo.Tag("cog-image.v1").String()))
	if got := strings.TrimSpace(runTool(t, crane, "digest", "--platform", "linux/amd64", repo.Tag("v1").String())); got != imgDigest {
		t.Errorf("linux/amd64 resolves to %s, want the image %s", got, imgDigest)
	}
}

func TestExporterPushHonoursChunkLimitsAndFallsBackToMonolithic(t *testing.T) {
	env := testEnv(t)
	ctx := context.Background()
	b, _ := testBundle(t, t.TempDir(), 5<<20+123, 3<<20)
	// The registry asks for chunks of at least 2 MiB; we prefer 1 MiB.
	px := newFaultProxy(t, env.Registry)
	px.mu.Lock()
	px.chunkMin = 2 << 20
	px.mu.Unlock()
	repo := uniqueRepo(t, px.addr(), "chunkmin")
	if _, err := (&exporter.Pusher{ChunkSize: 1 << 20}).Push(ctx, b, repo.Tag("v1")); err != nil {
		t.Fatal(err)
	}
	px.mu.Lock()
	sizes := append([]int64(nil), px.patchSizes...)
	px.mu.Unlock()
	// Chunks are 2 MiB (the registry's minimum, over our 1 MiB), and only
	// a blob's last chunk is smaller: 5 MiB+123 goes as 2+2+(1 MiB+123),
	// 3 MiB as 2+1, each small blob in one PATCH.
	full, tails := 0, map[int64]bool{}
	for _, s := range sizes {
		switch {
		case s == 2<<20:
			full++
		case s > 2<<20:
			t.Errorf("PATCH of %d bytes, over the chunk size", s)
		default:
			tails[s] = true
		}
	}
	if full != 3 || !tails[1<<20+123] || !tails[1<<20] {
		t.Errorf("PATCH sizes %v: want three 2 MiB chunks and final chunks of 1 MiB+123 and 1 MiB", sizes)
	}

	// A registry that refuses PATCH: every blob goes in one PUT.
	px2 := newFaultProxy(t, env.Registry)
	px2.mu.Lock()
	px2.noChunks = true
	px2.mu.Unlock()
	repo2 := uniqueRepo(t, px2.addr(), "nochunks")
	if _, err := (&exporter.Pusher{BackoffBase: 10 * time.Millisecond}).Push(ctx, b, repo2.Tag("v1")); err != nil {
		t.Fatalf("push to a registry without chunked uploads: %v", err)
	}
	if px2.injectedCount("405") == 0 {
		t.Error("no PATCH was refused; the fallback was not exercised")
	}
	direct, _ := name.NewRepository(env.Registry + "/" + repo2.RepositoryStr())
	for _, d := range allBlobs(b) {
		verifyBlob(t, direct, d)
	}
}

// TestDockerCogPlugin installs the binary as the Docker CLI plugin in a
// fresh Docker config and runs it through the real docker CLI.
func TestDockerCogPlugin(t *testing.T) {
	env := testEnv(t)
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	run(t, env.Root, env.Binary, "install-plugin")
	if fi, err := os.Stat(filepath.Join(cfg, "cli-plugins", "docker-cog")); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("plugin not installed as an executable: %v", err)
	}
	var meta map[string]string
	if err := json.Unmarshal([]byte(run(t, env.Root, filepath.Join(cfg, "cli-plugins", "docker-cog"), "docker-cli-plugin-metadata")), &meta); err != nil || meta["SchemaVersion"] != "0.1.0" || meta["Vendor"] == "" {
		t.Fatalf("plugin metadata %v: %v", meta, err)
	}
	info, _ := runErr(t, env.Root, "docker", "info", "--format", "{{json .ClientInfo.Plugins}}")
	if !strings.Contains(info, `"Name":"cog"`) {
		t.Errorf("docker does not list the cog plugin: %s", info)
	}
	b, _ := testBundle(t, t.TempDir(), 1<<20)
	repo := uniqueRepo(t, env.Registry, "plugin")
	if _, err := (&exporter.Pusher{}).Push(context.Background(), b, repo.Tag("v1")); err != nil {
		t.Fatal(err)
	}
	out := run(t, env.Root, "docker", "cog", "inspect", repo.Tag("v1").String())
	if !strings.Contains(out, "minilm") || !strings.Contains(out, "linux/amd64") {
		t.Errorf("docker cog inspect:\n%s", out)
	}
}

// A raw weight layer is pushed from the user's file without hashing it
// (weights.layerOpener): a same-size edit after import must still fail the
// push, by the registry's digest check at the commit, with words that say
// what changed and what to run, and the OCI layout output must refuse it by
// its own hash.
func TestBundlePushRefusesAFileEditedAfterImport(t *testing.T) {
	env := testEnv(t)
	repo := uniqueRepo(t, env.Registry, "bundle-edited")
	dir, _ := weightsProject(t, env, repo.String())
	writeImageLayout(t, filepath.Join(dir, "img"))
	f, err := os.OpenFile(filepath.Join(dir, "weights", "minilm", "model.safetensors"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("edited"), 40<<20); err != nil { // same size, other bytes
		t.Fatal(err)
	}
	f.Close()
	image := "oci-layout://" + filepath.Join(dir, "img") + ":latest"
	_, stderr, code := runSplit(t, dir, env.Binary, "bundle", "--image", image, "--push", repo.Tag("v1").String(), "--progress", "plain")
	for _, want := range []string{"DIGEST_INVALID", "changed since its digest was recorded", "cog-frontend weights import"} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Fatalf("push of an edited weight file: exit %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
	_, stderr, code = runSplit(t, dir, env.Binary, "bundle", "--image", image, "--output", "type=oci,dest="+filepath.Join(dir, "out"), "--progress", "plain")
	if code == 0 || !strings.Contains(stderr, "does not match its descriptor") {
		t.Fatalf("layout output of an edited weight file: exit %d:\n%s", code, stderr)
	}
	t.Logf("layout output refused it: %s", tail(stderr, 3))
}
