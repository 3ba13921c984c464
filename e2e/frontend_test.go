//go:build e2e

package e2e

// End-to-end tests of the frontend: the examples are built through the real
// BuildKit three ways (docker buildx with a `# syntax=` line or
// BUILDKIT_SYNTAX, docker buildx bake with a target: context, and
// in-process from Go), exported as OCI layouts, run under runc and asked for
// predictions. Caching and error reporting are checked on the same builds.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/frontend"
	"github.com/cog-frontend/cog-frontend/weights"
	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/cog-frontend/cog-frontend/wire"
	bkclient "github.com/moby/buildkit/client"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
)

// frontendTag is the tag the frontend image is pushed under, plus a hash
// of the checkout's path: fixed per checkout (each run overwrites it) so
// runs do not pile up images in the registry, and apart per checkout so
// that runs from several checkouts sharing one registry never build with
// each other's frontend.
const frontendTag = "e2e"

var (
	frontendOnce sync.Once
	frontendRef  string
	frontendErr  error
)

// frontendImage builds the frontend image from the repository's Dockerfile
// and pushes it to the dev registry, once per test run.
func frontendImage(t testing.TB, e *Env) string {
	t.Helper()
	frontendOnce.Do(func() {
		ref := e.Registry + "/cog-frontend:" + frontendTag + "-" + digest.FromString(e.Root).Encoded()[:12]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		start := time.Now()
		cmd := exec.CommandContext(ctx, "docker", "buildx", "build", "--builder", e.Builder,
			"--target", "frontend", "--provenance=false", "--sbom=false",
			"--build-arg", "VERSION=e2e",
			"--output", "type=image,name="+ref+",push=true,registry.insecure=true", e.Root)
		out, err := cmd.CombinedOutput()
		if err != nil {
			frontendErr = fmt.Errorf("building the frontend image (Dockerfile, target frontend): %v\n%s", err, out)
			return
		}
		t.Logf("frontend image %s built and pushed in %s", ref, time.Since(start).Round(time.Second))
		frontendRef = ref
	})
	if frontendErr != nil {
		t.Fatal(frontendErr)
	}
	return frontendRef
}

// prepareExample copies examples/<name> to a fresh directory. With syntax
// set, cog.yaml gets `# syntax=<syntax>` as its first line. When the
// example has managed weights, weights.lock is written by the real
// importer (weights.Import), as `cog-frontend weights import` would.
func prepareExample(t testing.TB, e *Env, name, syntax string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	cpR(t, filepath.Join(e.Root, "examples", name), dir)
	cogPath := filepath.Join(dir, "cog.yaml")
	data, err := os.ReadFile(cogPath)
	if err != nil {
		t.Fatal(err)
	}
	if syntax != "" {
		data = append([]byte("# syntax="+syntax+"\n"), data...)
		if err := os.WriteFile(cogPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _, err := config.Parse("cog.yaml", data)
	if err != nil {
		t.Fatalf("examples/%s/cog.yaml: %v", name, err)
	}
	if len(cfg.Weights) > 0 {
		st, err := store.Open(filepath.Join(t.TempDir(), "store"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := weights.Import(context.Background(), weights.ImportOptions{ProjectDir: dir, Config: cfg, Store: st}); err != nil {
			t.Fatalf("weights import for examples/%s: %v", name, err)
		}
	}
	return dir
}

// cpR copies a directory tree with cp -a.
func cpR(t testing.TB, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v\n%s", src, dst, err, out)
	}
}

// weightMounts materialises each managed weight of the project the way a
// weights pull leaves it (the files under the target plus the .cog/ready
// marker) and returns read-only bind mounts of them at their targets.
func weightMounts(t *testing.T, projectDir string) []bindMount {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(projectDir, "cog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Parse("cog.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	var mounts []bindMount
	for _, w := range cfg.Weights {
		dst := filepath.Join(t.TempDir(), w.Name)
		for _, s := range w.Sources {
			src := filepath.Join(projectDir, strings.TrimPrefix(s.URI, "file://./"))
			cpR(t, src, dst)
		}
		if err := os.MkdirAll(filepath.Join(dst, ".cog"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, ".cog", "ready"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		mounts = append(mounts, bindMount{Source: dst, Target: w.Target})
	}
	return mounts
}

// example is what each example must do once it runs.
type example struct {
	name   string
	input  string // JSON of the prediction input
	output any    // expected "output" of POST /predictions
}

var (
	hello      = example{name: "hello", input: `{"name":"e2e"}`, output: "hello, e2e"}
	cpuWeights = example{name: "cpu-weights", input: `{"x1":1,"x2":1,"x3":1}`, output: []any{6.5, 14.5}}
)

// layoutImage reads the image config of the single-platform image in an
// OCI layout written by BuildKit's oci exporter.
func layoutImage(t *testing.T, layout string) ocispec.Image {
	t.Helper()
	readJSON := func(p string, v any) {
		dt, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(dt, v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	blob := func(d string) string {
		algo, hex, _ := strings.Cut(d, ":")
		return filepath.Join(layout, "blobs", algo, hex)
	}
	var idx ocispec.Index
	readJSON(filepath.Join(layout, "index.json"), &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(idx.Manifests))
	}
	var m ocispec.Manifest
	readJSON(blob(string(idx.Manifests[0].Digest)), &m)
	if m.Config.MediaType != ocispec.MediaTypeImageConfig {
		t.Fatalf("top manifest is %s (config %s), want a single image manifest", idx.Manifests[0].MediaType, m.Config.MediaType)
	}
	var img ocispec.Image
	readJSON(blob(string(m.Config.Digest)), &img)
	return img
}

// checkRuns runs the image in layout and checks the runtime contract: ready
// after setup, /openapi.json equal to the run.cog.openapi_schema label, and
// the expected prediction.
func checkRuns(t *testing.T, layout, projectDir string, ex example, withWeights bool) {
	t.Helper()
	img := layoutImage(t, layout)
	labels := img.Config.Labels
	for _, l := range []string{"run.cog.config", "run.cog.version", "run.cog.openapi_schema", "run.cog.pip_freeze", "run.cog.has_init"} {
		if labels[l] == "" {
			t.Errorf("label %s missing; labels: %v", l, keys(labels))
		}
	}
	if !strings.Contains(labels["run.cog.pip_freeze"], "cog==") && !strings.Contains(labels["run.cog.pip_freeze"], "cog @") {
		t.Errorf("run.cog.pip_freeze does not list cog:\n%s", labels["run.cog.pip_freeze"])
	}
	var mounts []bindMount
	if withWeights {
		mounts = weightMounts(t, projectDir)
	}
	c := runImage(t, layout, "latest", mounts)
	c.waitReady(t, 3*time.Minute)

	checkServes(t, c, labels, ex)
}

// checkServes checks a running model against its image's labels and the
// example: /openapi.json is the run.cog.openapi_schema label, and the
// prediction is the expected one.
func checkServes(t *testing.T, c *container, labels map[string]string, ex example) {
	t.Helper()
	var served, label any
	if err := json.Unmarshal([]byte(c.curl(t, "http://127.0.0.1:5000/openapi.json")), &served); err != nil {
		t.Fatalf("/openapi.json is not JSON: %v", err)
	}
	if err := json.Unmarshal([]byte(labels["run.cog.openapi_schema"]), &label); err != nil {
		t.Fatalf("run.cog.openapi_schema label is not JSON: %v", err)
	}
	if !reflect.DeepEqual(served, label) {
		t.Errorf("GET /openapi.json differs from the run.cog.openapi_schema label\nserved: %v\nlabel:  %v", served, label)
	}
	out := c.curl(t, "-X", "POST", "-H", "Content-Type: application/json",
		"-d", `{"input":`+ex.input+`}`, "http://127.0.0.1:5000/predictions")
	var pred struct {
		Status string `json:"status"`
		Output any    `json:"output"`
	}
	if err := json.Unmarshal([]byte(out), &pred); err != nil {
		t.Fatalf("POST /predictions: %v: %s", err, out)
	}
	t.Logf("POST /predictions %s -> status %s, output %v", ex.input, pred.Status, pred.Output)
	if pred.Status != "succeeded" || !reflect.DeepEqual(pred.Output, ex.output) {
		t.Errorf("POST /predictions = %s, want status succeeded and output %v\ncontainer log:\n%s", out, ex.output, c.logs())
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// vertex is the final state of one build step, from buildx's rawjson
// progress or the Go client's status channel.
type vertex struct {
	Name      string
	Cached    bool
	Completed bool
	Error     string
	Inputs    int    // how many vertices it depends on
	Log       string // the step's output (Go client only)
}

// vertexSet folds progress updates into the final state of each vertex,
// in first-seen order.
type vertexSet struct {
	byDigest map[string]*vertex
	order    []string
}

func (s *vertexSet) update(digest, name string, inputs int, cached, completed bool, errText string) *vertex {
	if s.byDigest == nil {
		s.byDigest = map[string]*vertex{}
	}
	cur, ok := s.byDigest[digest]
	if !ok {
		cur = &vertex{}
		s.byDigest[digest] = cur
		s.order = append(s.order, digest)
	}
	cur.Name = name
	cur.Inputs = max(cur.Inputs, inputs)
	cur.Cached = cur.Cached || cached
	cur.Completed = cur.Completed || completed
	if errText != "" {
		cur.Error = errText
	}
	return cur
}

func (s *vertexSet) list() []vertex {
	out := make([]vertex, 0, len(s.order))
	for _, d := range s.order {
		out = append(out, *s.byDigest[d])
	}
	return out
}

// parseRawJSON reads `--progress=rawjson` output (one SolveStatus per line)
// into the final state of each vertex.
func parseRawJSON(t *testing.T, out string) []vertex {
	t.Helper()
	var set vertexSet
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var st struct {
			Vertexes []struct {
				Digest    string     `json:"digest"`
				Name      string     `json:"name"`
				Cached    bool       `json:"cached"`
				Completed *time.Time `json:"completed"`
				Error     string     `json:"error"`
				Inputs    []string   `json:"inputs"`
			} `json:"vertexes"`
		}
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			continue
		}
		for _, v := range st.Vertexes {
			set.update(v.Digest, v.Name, len(v.Inputs), v.Cached, v.Completed != nil, v.Error)
		}
	}
	return set.list()
}

// statusVertices collects the Go client's status stream like parseRawJSON,
// with each step's log.
func statusVertices(ch chan *bkclient.SolveStatus) func() []vertex {
	var set vertexSet
	done := make(chan struct{})
	go func() {
		defer close(done)
		for st := range ch {
			for _, v := range st.Vertexes {
				set.update(v.Digest.String(), v.Name, len(v.Inputs), v.Cached, v.Completed != nil, v.Error)
			}
			for _, l := range st.Logs {
				if cur, ok := set.byDigest[l.Vertex.String()]; ok {
					cur.Log += string(l.Data)
				}
			}
		}
	}()
	return func() []vertex {
		<-done
		return set.list()
	}
}

// isBuildStep tells the steps that compute something from other results
// (runs, copies, merges) from sources: images, local directories, files
// made from nothing, and the progress-only vertices (metadata resolution,
// loading the build file). BuildKit never reports a source as cached (a
// Dockerfile build's FROM lines are not either); sources are re-resolved on
// every build by design. A source has no inputs.
func isBuildStep(v vertex) bool { return v.Inputs > 0 }

// assertAllCached fails unless every build step of the solve was cached.
func assertAllCached(t *testing.T, vs []vertex) {
	t.Helper()
	steps := 0
	for _, v := range vs {
		if !isBuildStep(v) {
			continue
		}
		steps++
		if !v.Cached {
			t.Errorf("rebuild without changes ran %q (not cached)", v.Name)
		}
	}
	if steps == 0 {
		t.Errorf("no build steps seen in the progress output; vertices: %v", vs)
	}
}

// isDependencyStep names the steps that install dependencies (llb names
// them "[cog] install ..."): they must not rerun when only the project's
// code changed.
func isDependencyStep(v vertex) bool { return strings.HasPrefix(v.Name, "[cog] install") }

// buildx runs docker buildx with rawjson progress in dir and returns the
// combined output.
func buildx(t *testing.T, e *Env, dir string, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"buildx", "build", "--builder", e.Builder, "--progress=rawjson", "--provenance=false", "--sbom=false"}, args...)
	return runErr(t, dir, "docker", full...)
}

func mustBuildx(t *testing.T, e *Env, dir string, args ...string) []vertex {
	t.Helper()
	out, err := buildx(t, e, dir, args...)
	if err != nil {
		t.Fatalf("docker buildx build %v: %v\n%s", args, err, tail(out, 80))
	}
	return parseRawJSON(t, out)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestBuildxSyntaxLine builds each example with plain `docker buildx build
// -f cog.yaml .`, the frontend named by cog.yaml's `# syntax=` line, runs
// it, then checks that a rebuild is fully cached, that a code-only change
// reruns no dependency step, and that a broken cog.yaml shows its line.
func TestBuildxSyntaxLine(t *testing.T) {
	e := testEnv(t)
	fe := frontendImage(t, e)
	for _, ex := range []example{hello, cpuWeights} {
		t.Run(ex.name, func(t *testing.T) {
			dir := prepareExample(t, e, ex.name, fe)
			layout := filepath.Join(t.TempDir(), "oci")
			out := "type=oci,dest=" + layout + ",tar=false"
			mustBuildx(t, e, dir, "-f", "cog.yaml", "--output", out, ".")
			checkRuns(t, layout, dir, ex, ex.name == cpuWeights.name)

			// Unchanged: everything cached.
			vs := mustBuildx(t, e, dir, "-f", "cog.yaml", "--output", "type=cacheonly", ".")
			assertAllCached(t, vs)

			// Code-only change: no dependency step reruns.
			f, err := os.OpenFile(filepath.Join(dir, "predict.py"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(f, "\n# code change %d\n", time.Now().UnixNano())
			f.Close()
			vs = mustBuildx(t, e, dir, "-f", "cog.yaml", "--output", "type=cacheonly", ".")
			ran := 0
			for _, v := range vs {
				if !isBuildStep(v) || v.Cached {
					continue
				}
				ran++
				if isDependencyStep(v) {
					t.Errorf("code-only change reran dependency step %q", v.Name)
				}
			}
			if ran == 0 {
				t.Error("code-only change reran nothing: the project copy should have run")
			}
		})
	}
}

// TestBuildxBrokenCogYAMLShowsTheLine: a cog.yaml error comes back through
// buildx with the file, the line number and the offending line's text.
func TestBuildxBrokenCogYAMLShowsTheLine(t *testing.T) {
	out, lineNo := buildxHelloWithCogYAML(t, "python_version:", "pyhton_version:", "pyhton_version:")
	for _, want := range []string{"pyhton_version", fmt.Sprintf("cog.yaml:%d", lineNo), fmt.Sprintf("%d | ", lineNo)} {
		if !strings.Contains(out, want) {
			t.Errorf("buildx output does not contain %q:\n%s", want, tail(out, 40))
		}
	}
}

// buildxHelloWithCogYAML builds examples/hello through the frontend image
// with the first `old` in its cog.yaml replaced by `with`, expects the build
// to fail, and returns buildx's output and the 1-based line of cog.yaml that
// contains `marker`.
func buildxHelloWithCogYAML(t *testing.T, old, with, marker string) (string, int) {
	t.Helper()
	e := testEnv(t)
	dir, edited := editedHello(t, e, old, with)
	lineNo := 0
	for i, l := range strings.Split(edited, "\n") {
		if strings.Contains(l, marker) {
			lineNo = i + 1
		}
	}
	if lineNo == 0 {
		t.Fatalf("edited cog.yaml has no line containing %q", marker)
	}
	out, err := runErr(t, dir, "docker", "buildx", "build", "--builder", e.Builder, "--progress=plain", "-f", "cog.yaml", "--output", "type=cacheonly", ".")
	if err == nil {
		t.Fatalf("the build of an edited cog.yaml (%q -> %q) succeeded, want a failure:\n%s", old, with, tail(out, 40))
	}
	return out, lineNo
}

// editedHello prepares examples/hello for a build through the frontend image
// with the first `old` in its cog.yaml replaced by `with`, and returns the
// project directory and the edited cog.yaml.
func editedHello(t *testing.T, e *Env, old, with string) (string, string) {
	t.Helper()
	dir := prepareExample(t, e, hello.name, frontendImage(t, e))
	cogPath := filepath.Join(dir, "cog.yaml")
	data, err := os.ReadFile(cogPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), old, with, 1)
	if edited == string(data) {
		t.Fatalf("examples/hello/cog.yaml has no %q to replace", old)
	}
	if err := os.WriteFile(cogPath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, edited
}

// TestBuildxBuildkitSyntaxArg: no syntax line and no -f; the frontend comes
// from the BUILDKIT_SYNTAX build arg and reads cog.yaml by default.
func TestBuildxBuildkitSyntaxArg(t *testing.T) {
	e := testEnv(t)
	fe := frontendImage(t, e)
	dir := prepareExample(t, e, hello.name, "")
	layout := filepath.Join(t.TempDir(), "oci")
	mustBuildx(t, e, dir, "--build-arg", "BUILDKIT_SYNTAX="+fe, "--output", "type=oci,dest="+layout+",tar=false", ".")
	checkRuns(t, layout, dir, hello, false)
}

// TestBake builds the examples with `docker buildx bake`, taking the
// frontend from the bake file's `frontend` target through a target:
// context: nothing is pulled from the registry for the frontend.
func TestBake(t *testing.T) {
	e := testEnv(t)
	for _, ex := range []example{hello, cpuWeights} {
		t.Run(ex.name, func(t *testing.T) {
			dir := prepareExample(t, e, ex.name, "")
			layout := filepath.Join(t.TempDir(), "oci")
			target := "example-" + ex.name
			run(t, e.Root, "docker", "buildx", "bake", "--builder", e.Builder, "--progress=plain",
				// bake asks before reading or writing outside its directory.
				"--allow=fs.read="+dir, "--allow=fs.write="+filepath.Dir(layout),
				"--provenance=false", "--sbom=false",
				"-f", filepath.Join(e.Root, "docker-bake.hcl"),
				"--set", target+".context="+dir,
				"--set", target+".tags=",
				"--set", target+".output=type=oci,dest="+layout+",tar=false",
				target)
			checkRuns(t, layout, dir, ex, ex.name == cpuWeights.name)
		})
	}
}

// TestInProcess runs frontend.Build in this test process against the dev
// buildkitd through the Go client, as `cog-frontend build` does, and checks
// the result metadata the exporter relies on.
func TestInProcess(t *testing.T) {
	e := testEnv(t)
	for _, ex := range []example{hello, cpuWeights} {
		t.Run(ex.name, func(t *testing.T) {
			dir := prepareExample(t, e, ex.name, "")
			layout := filepath.Join(t.TempDir(), "oci")
			meta := inProcessBuild(t, e, dir, layout, nil)
			checkRuns(t, layout, dir, ex, ex.name == cpuWeights.name)

			if got := string(meta[frontend.MetaFormat]); got == "" {
				t.Errorf("frontend result has no %s: %v", frontend.MetaFormat, keysB(meta))
			}
			lockJSON, hasLock := meta[frontend.MetaWeightsLock]
			if ex.name == cpuWeights.name {
				var lock config.Lock
				if err := json.Unmarshal(lockJSON, &lock); err != nil || len(lock.Weights) != 1 || lock.Weights[0].Name != "linear" || lock.Weights[0].SetDigest == "" {
					t.Errorf("weights lock metadata = %q (%v), want the linear weight", lockJSON, err)
				}
			} else if hasLock {
				t.Errorf("weights lock metadata for a model without weights: %q", lockJSON)
			}
		})
	}
}

func keysB(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// inProcessBuild runs frontend.Build through client.Build, exports an OCI
// layout to layout, and returns the frontend result's metadata, which an
// in-process caller reads by wrapping the BuildFunc (BuildKit's exporter
// response does not carry frontend metadata).
func inProcessBuild(t testing.TB, e *Env, dir, layout string, attrs map[string]string) map[string][]byte {
	t.Helper()
	ctx := t.Context()
	c, err := bkclient.New(ctx, e.BuildkitHost)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(layout, 0o755); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *bkclient.SolveStatus)
	vertices := statusVertices(ch)
	var meta map[string][]byte
	build := func(ctx context.Context, c gwclient.Client) (*gwclient.Result, error) {
		res, err := frontend.Build(ctx, c)
		if res != nil {
			meta = res.Metadata
		}
		return res, err
	}
	_, err = c.Build(ctx, bkclient.SolveOpt{
		Exports:       []bkclient.ExportEntry{{Type: bkclient.ExporterOCI, OutputDir: layout, Attrs: map[string]string{"tar": "false"}}},
		LocalMounts:   map[string]fsutil.FS{"context": fs, "dockerfile": fs},
		FrontendAttrs: attrs,
	}, "", build, ch)
	vs := vertices()
	if err != nil {
		var failed []string
		for _, v := range vs {
			if v.Error != "" {
				failed = append(failed, v.Name+": "+v.Error+"\n"+tail(v.Log, 30))
			}
		}
		t.Fatalf("in-process build: %v\nfailed steps: %v", err, failed)
	}
	return meta
}

// TestBuildxCallSubrequests: `--call outline` and `--call targets` are
// answered by the frontend (through dockerui's subrequest protocol) with
// what cog.yaml accepts, without building anything.
func TestBuildxCallSubrequests(t *testing.T) {
	e := testEnv(t)
	dir, _ := editedHello(t, e, "build:\n", "build:\n  run:\n    - command: test -s /run/secrets/token\n      mounts:\n        - type: secret\n          id: token\n          target: /run/secrets/token\n")
	out := run(t, dir, "docker", "buildx", "build", "--builder", e.Builder, "--call", "outline", "-f", "cog.yaml", ".")
	for _, want := range []string{frontend.BuildArgFormat, frontend.BuildArgCACert, "token"} {
		if !strings.Contains(out, want) {
			t.Errorf("--call outline does not list %s:\n%s", want, out)
		}
	}
	out = run(t, dir, "docker", "buildx", "build", "--builder", e.Builder, "--call", "targets", "-f", "cog.yaml", ".")
	for _, want := range []string{wire.FormatBundle, wire.FormatStandalone} {
		if !strings.Contains(out, want) {
			t.Errorf("--call targets does not list %s:\n%s", want, out)
		}
	}
}

// TestBuildxSecret: a build.run command with a secret mount sees the value
// passed with --secret, and the secret is not left in the image.
func TestBuildxSecret(t *testing.T) {
	e := testEnv(t)
	value := fmt.Sprintf("s3cret-%d", time.Now().UnixNano())
	step := "build:\n  run:\n    - command: test \"$(cat /run/secrets/token)\" = " + value + " && echo secret-ok > /secret-check\n" +
		"      mounts:\n        - type: secret\n          id: token\n          target: /run/secrets/token\n"
	dir, edited := editedHello(t, e, "build:\n", step)
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(t.TempDir(), "oci")
	mustBuildx(t, e, dir, "-f", "cog.yaml", "--secret", "id=token,src="+secretFile, "--output", "type=oci,dest="+layout+",tar=false", ".")
	bundle := filepath.Join(t.TempDir(), "bundle")
	run(t, "", "umoci", "unpack", "--image", layout+":latest", bundle)
	if dt, err := os.ReadFile(filepath.Join(bundle, "rootfs", "secret-check")); err != nil || strings.TrimSpace(string(dt)) != "secret-ok" {
		t.Errorf("build.run did not see the secret: /secret-check = %q (%v)", dt, err)
	}
	if _, err := os.Stat(filepath.Join(bundle, "rootfs", "run", "secrets", "token")); err == nil {
		t.Error("the secret was left in the image at /run/secrets/token")
	}
	// Without --secret the step fails, pointing at its cog.yaml line. The
	// command changes so the step runs again (a secret's value is not part
	// of the cache key); the steps above it stay cached.
	if err := os.WriteFile(filepath.Join(dir, "cog.yaml"), []byte(strings.Replace(edited, "> /secret-check", "> /secret-check && true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := buildx(t, e, dir, "-f", "cog.yaml", "--output", "type=cacheonly", ".")
	if err == nil {
		t.Fatal("build.run needing a secret succeeded without --secret")
	}
	if !strings.Contains(out, "cog.yaml") {
		t.Errorf("failure without the secret does not point into cog.yaml:\n%s", tail(out, 30))
	}
}

// TestBuildxNamedContextReplacesBaseImage: `--build-context
// python:3.11-slim=docker-image://...` swaps the base image, as it does for
// a Dockerfile's FROM.
func TestBuildxNamedContextReplacesBaseImage(t *testing.T) {
	e := testEnv(t)
	fe := frontendImage(t, e)
	dir := prepareExample(t, e, hello.name, fe)
	layout := filepath.Join(t.TempDir(), "oci")
	mustBuildx(t, e, dir, "-f", "cog.yaml",
		"--build-context", "python:3.11-slim=docker-image://"+e.Registry+"/library/python:3.13-slim",
		"--output", "type=oci,dest="+layout+",tar=false", ".")
	img := layoutImage(t, layout)
	var pyver string
	for _, kv := range img.Config.Env {
		if v, ok := strings.CutPrefix(kv, "PYTHON_VERSION="); ok {
			pyver = v
		}
	}
	if !strings.HasPrefix(pyver, "3.13") {
		t.Errorf("PYTHON_VERSION = %q, want the 3.13 image given as the named context; env: %v", pyver, img.Config.Env)
	}
	if !strings.Contains(img.Config.Labels["run.cog.pip_freeze"], "cog==") {
		t.Errorf("the build on the replaced base did not install cog:\n%s", img.Config.Labels["run.cog.pip_freeze"])
	}
}

// TestBuildxFailingStepShowsItsCogYAMLLine: a build step that fails is
// reported at the cog.yaml line that produced it (LLB source maps).
func TestBuildxFailingStepShowsItsCogYAMLLine(t *testing.T) {
	out, lineNo := buildxHelloWithCogYAML(t, "build:\n", "build:\n  run:\n    - echo fine\n    - exit 3\n", "- exit 3")
	for _, want := range []string{fmt.Sprintf("cog.yaml:%d", lineNo), ">>>     - exit 3", "exit code: 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("buildx output does not contain %q:\n%s", want, tail(out, 30))
		}
	}
}

// TestCLIFailingStepShowsItsCogYAMLLine: the same failing build.run step,
// built in-process by `cog-frontend build`, prints the cog.yaml line as the
// buildx route does.
func TestCLIFailingStepShowsItsCogYAMLLine(t *testing.T) {
	e := testEnv(t)
	dir, edited := editedHello(t, e, "build:\n", "build:\n  run:\n    - echo fine\n    - exit 3\n")
	lineNo := 1 + strings.Count(edited[:strings.Index(edited, "- exit 3")], "\n")
	out, err := runErr(t, dir, e.Binary, "build", "--progress", "plain")
	if err == nil {
		t.Fatalf("cog-frontend build of a failing build.run step succeeded:\n%s", tail(out, 30))
	}
	for _, want := range []string{fmt.Sprintf("cog.yaml:%d", lineNo), ">>>     - exit 3", "exit code: 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("cog-frontend build output does not contain %q:\n%s", want, tail(out, 30))
		}
	}
}
