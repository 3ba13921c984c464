//go:build e2e

package e2e

// The Docker Engine route, as most users build: `docker buildx build` on
// the default `docker` driver (BuildKit embedded in dockerd), `--load` into
// the engine, `docker run`; the `docker cog` plugin on that driver; `docker
// pull` of a pushed bundle; bake through the engine. Every test runs on each
// engine the development environment starts (COG_DEV_ENGINES), in parallel.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// engine is one Docker Engine of the development environment.
type engine struct {
	Version string // e.g. 28.5.2
	Host    string // DOCKER_HOST, unix://.../engine-28/docker.sock
	config  string // a DOCKER_CONFIG of the test's own: buildx and docker-cog as plugins, the default builder current
}

// containerdSock is the socket of the engine's own containerd, next to the
// engine's socket (hack/dev-env lays them out so).
func (g *engine) containerdSock() string {
	return filepath.Join(filepath.Dir(strings.TrimPrefix(g.Host, "unix://")), "containerd.sock")
}

// engines returns the environment's Docker Engines, each with a Docker
// config of its own so that no builder chosen elsewhere (`docker buildx
// use`) changes which BuildKit the commands reach.
func engines(t *testing.T, e *Env) []*engine {
	t.Helper()
	list := strings.Fields(os.Getenv("COG_DEV_ENGINES"))
	if len(list) == 0 {
		t.Fatalf("COG_DEV_ENGINES is not set: the Docker Engines are missing; %s", fixHint)
	}
	var out []*engine
	for _, kv := range list {
		v, host, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("COG_DEV_ENGINES entry %q is not VERSION=DOCKER_HOST", kv)
		}
		g := &engine{Version: v, Host: host, config: t.TempDir()}
		plugins := filepath.Join(g.config, "cli-plugins")
		if err := os.MkdirAll(plugins, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(e.ToolsDir, "docker-buildx"), filepath.Join(plugins, "docker-buildx")); err != nil {
			t.Fatal(err)
		}
		g.cmd(t, "", e.Binary, "install-plugin")
		out = append(out, g)
	}
	return out
}

// env is the process environment of a command aimed at this engine: its
// DOCKER_HOST and Docker config, and no BUILDKIT_HOST (a Docker user has
// none).
func (g *engine) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "BUILDKIT_HOST", "BUILDX_BUILDER":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "DOCKER_HOST="+g.Host, "DOCKER_CONFIG="+g.config)
}

// cmdErr runs a command against the engine and returns its combined output.
func (g *engine) cmdErr(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	c := exec.CommandContext(t.Context(), name, args...)
	c.Dir, c.Env = dir, g.env()
	start := time.Now()
	out, err := c.CombinedOutput()
	t.Logf("[engine %s] $ %s %s  (%s)", g.Version, name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return string(out), err
}

func (g *engine) cmd(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out, err := g.cmdErr(t, dir, name, args...)
	if err != nil {
		t.Fatalf("[engine %s] %s %s: %v\n%s", g.Version, name, strings.Join(args, " "), err, tail(out, 60))
	}
	return out
}

func (g *engine) docker(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return g.cmd(t, dir, "docker", args...)
}

// eachEngine runs f once per engine, the engines in parallel.
func eachEngine(t *testing.T, f func(t *testing.T, e *Env, g *engine)) {
	e := testEnv(t)
	frontendImage(t, e) // once, before the parallel subtests race for it
	for _, g := range engines(t, e) {
		t.Run("engine-"+g.Version, func(t *testing.T) {
			t.Parallel()
			f(t, e, g)
		})
	}
}

// imageName is a local image name unique to this test and engine.
func imageName(t *testing.T, base string) string {
	return "cog-e2e-" + base + ":" + nonce(t)
}

// runOnEngine starts image on the engine with no network (it is reached
// through its network namespace, as with runc), the weight directories
// bind-mounted read-only, and removes it when the test ends.
func (g *engine) runOnEngine(t *testing.T, image string, mounts []bindMount) *container {
	t.Helper()
	args := []string{"run", "-d", "--network", "none"}
	for _, m := range mounts {
		args = append(args, "-v", m.Source+":"+m.Target+":ro")
	}
	id := strings.TrimSpace(g.docker(t, "", append(args, image)...))
	t.Cleanup(func() {
		c := exec.Command("docker", "rm", "-f", id)
		c.Env = g.env()
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("docker rm -f %s: %v: %s", id, err, out)
		}
	})
	var pid int
	if _, err := fmt.Sscan(g.docker(t, "", "inspect", "-f", "{{.State.Pid}}", id), &pid); err != nil || pid == 0 {
		t.Fatalf("container %s has no pid: %v", id, err)
	}
	logPath := filepath.Join(t.TempDir(), "container.log")
	return &container{ID: id, PID: pid, Log: logPath, refreshLog: func() {
		c := exec.Command("docker", "logs", id)
		c.Env = g.env()
		out, _ := c.CombinedOutput()
		_ = os.WriteFile(logPath, out, 0o644)
	}}
}

// checkServesOnEngine checks a loaded image the way checkRuns checks a
// layout: Cog's labels, /openapi.json equal to the schema label, and the
// example's prediction.
func (g *engine) checkServesOnEngine(t *testing.T, image, projectDir string, ex example, withWeights bool) {
	t.Helper()
	var labels map[string]string
	if err := json.Unmarshal([]byte(g.docker(t, "", "image", "inspect", "-f", "{{json .Config.Labels}}", image)), &labels); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"run.cog.config", "run.cog.version", "run.cog.openapi_schema", "run.cog.pip_freeze"} {
		if labels[l] == "" {
			t.Errorf("%s: label %s missing; labels: %v", image, l, keys(labels))
		}
	}
	var mounts []bindMount
	if withWeights {
		mounts = weightMounts(t, projectDir)
	}
	c := g.runOnEngine(t, image, mounts)
	c.waitReady(t, 3*time.Minute)
	checkServes(t, c, labels, ex)
}

// TestEngineBuildxSyntaxLine: `docker buildx build -f cog.yaml --load .`
// on the default docker driver, the frontend named by cog.yaml's `# syntax=`
// line; both examples load into the engine and serve predictions there.
func TestEngineBuildxSyntaxLine(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *Env, g *engine) {
		for _, ex := range []example{hello, cpuWeights} {
			dir := prepareExample(t, e, ex.name, frontendImage(t, e))
			image := imageName(t, ex.name)
			out := g.docker(t, dir, "buildx", "build", "--builder", "default", "--progress", "plain", "-f", "cog.yaml", "-t", image, "--load", ".")
			if !strings.Contains(out, frontendImage(t, e)) {
				t.Errorf("the build did not go through the frontend image %s:\n%s", frontendImage(t, e), tail(out, 30))
			}
			g.checkServesOnEngine(t, image, dir, ex, ex.name == cpuWeights.name)
		}
	})
}

// TestEngineBuildkitSyntaxArg: no syntax line; BUILDKIT_SYNTAX names the
// frontend, and a broken cog.yaml still points at its line on this driver.
func TestEngineBuildkitSyntaxArg(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *Env, g *engine) {
		fe := frontendImage(t, e)
		dir := prepareExample(t, e, hello.name, "")
		image := imageName(t, "hello-arg")
		g.docker(t, dir, "buildx", "build", "--builder", "default", "--progress", "plain", "--build-arg", "BUILDKIT_SYNTAX="+fe, "-t", image, "--load", ".")
		g.checkServesOnEngine(t, image, dir, hello, false)

		cogPath := filepath.Join(dir, "cog.yaml")
		data := readFile(t, cogPath)
		broken := strings.Replace(data, "python_version:", "pyhton_version:", 1)
		if err := os.WriteFile(cogPath, []byte(broken), 0o644); err != nil {
			t.Fatal(err)
		}
		lineNo := 1 + strings.Count(broken[:strings.Index(broken, "pyhton_version:")], "\n")
		out, err := g.cmdErr(t, dir, "docker", "buildx", "build", "--builder", "default", "--progress", "plain", "--build-arg", "BUILDKIT_SYNTAX="+fe, "--output", "type=cacheonly", ".")
		if err == nil {
			t.Fatalf("a broken cog.yaml built:\n%s", tail(out, 30))
		}
		for _, want := range []string{"pyhton_version", fmt.Sprintf("cog.yaml:%d", lineNo)} {
			if !strings.Contains(out, want) {
				t.Errorf("the failed build's output does not contain %q:\n%s", want, tail(out, 40))
			}
		}
	})
}

// TestEngineBake builds an example with the repository's bake file through
// the engine: the frontend comes from the bake file's `frontend` target.
func TestEngineBake(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *Env, g *engine) {
		dir := prepareExample(t, e, hello.name, "")
		image := imageName(t, "bake-hello")
		g.docker(t, e.Root, "buildx", "bake", "--builder", "default", "--progress", "plain",
			"--allow=fs.read="+dir, "--provenance=false", "--sbom=false",
			"-f", filepath.Join(e.Root, "docker-bake.hcl"),
			"--set", "example-hello.context="+dir,
			"--set", "example-hello.tags="+image,
			"--set", "example-hello.output=type=docker",
			"example-hello")
		g.checkServesOnEngine(t, image, dir, hello, false)
	})
}

// TestEngineDockerCogPushAndPull: `docker cog build` and `docker cog push`
// on the docker driver; then `docker pull` of the pushed bundle takes the
// model image and none of the weights, and the pulled image serves with the
// weights mounted.
func TestEngineDockerCogPushAndPull(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *Env, g *engine) {
		dir := prepareExample(t, e, cpuWeights.name, "")
		// The engine pulls the pushed bundle from the dev registry.
		repo := e.TempRepo(t, "engine-"+strings.ReplaceAll(g.Version, ".", "-"))
		g.docker(t, dir, "cog", "build", "--progress", "plain")
		in := g.docker(t, dir, "cog", "inspect", "oci-layout://"+filepath.Join(dir, ".cog", "bundle"))
		if !strings.Contains(in, "linux/amd64") || !strings.Contains(in, "linear") {
			t.Errorf("docker cog inspect of the built bundle:\n%s", in)
		}
		g.docker(t, dir, "cog", "push", "--progress", "plain", repo+":v1")

		var lock struct {
			Weights []struct {
				Digest string
				Layers []struct{ Digest string }
			}
		}
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "weights.lock"))), &lock); err != nil || len(lock.Weights) == 0 {
			t.Fatalf("weights.lock: %v", err)
		}
		g.docker(t, "", "pull", repo+":v1")
		content := g.cmd(t, "", filepath.Join(e.ToolsDir, "ctr"), "--address", g.containerdSock(), "-n", "moby", "content", "ls", "-q")
		for _, w := range lock.Weights {
			for _, d := range append([]string{w.Digest}, layerDigests(w.Layers)...) {
				if strings.Contains(content, d) {
					t.Errorf("docker pull fetched weight blob %s into the engine", d)
				}
			}
		}
		// The image it resolved to is the bundle's linux/amd64 model image.
		imgDigest := strings.TrimSpace(runTool(t, tool(t, e, "crane"), "digest", repo+":cog-image.v1"))
		if !strings.Contains(content, imgDigest) {
			t.Errorf("docker pull did not fetch the model image manifest %s; content store:\n%s", imgDigest, content)
		}
		g.checkServesOnEngine(t, repo+":v1", dir, cpuWeights, true)
	})
}

func layerDigests(ls []struct{ Digest string }) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Digest)
	}
	return out
}

// TestOldestBuildKit builds both examples through the frontend image on the
// oldest BuildKit the frontend supports (docs/frontend.md), by buildx with
// a `# syntax=` line, and hello in-process with `cog-frontend build`.
func TestOldestBuildKit(t *testing.T) {
	e := testEnv(t)
	host, builder, version := os.Getenv("COG_DEV_OLDEST_BUILDKIT_HOST"), os.Getenv("COG_DEV_OLDEST_BUILDER"), os.Getenv("COG_DEV_OLDEST_BUILDKIT_VERSION")
	if host == "" || builder == "" {
		t.Fatalf("COG_DEV_OLDEST_BUILDKIT_HOST / COG_DEV_OLDEST_BUILDER not set: the oldest buildkitd is missing; %s", fixHint)
	}
	out := run(t, e.Root, filepath.Join(e.ToolsDir, "buildctl-oldest"), "--addr", host, "debug", "info")
	if !strings.Contains(out, version) {
		t.Fatalf("buildkitd at %s is not %s:\n%s", host, version, out)
	}
	fe := frontendImage(t, e)
	for _, ex := range []example{hello, cpuWeights} {
		t.Run(ex.name, func(t *testing.T) {
			dir := prepareExample(t, e, ex.name, fe)
			layout := filepath.Join(t.TempDir(), "oci")
			run(t, dir, "docker", "buildx", "build", "--builder", builder, "--progress", "plain", "-f", "cog.yaml", "--output", "type=oci,dest="+layout+",tar=false", ".")
			checkRuns(t, layout, dir, ex, ex.name == cpuWeights.name)
		})
	}
	t.Run("in-process", func(t *testing.T) {
		dir := prepareExample(t, e, hello.name, "")
		c := exec.CommandContext(t.Context(), e.Binary, "build", "--progress", "plain")
		c.Dir = dir
		c.Env = append(os.Environ(), "BUILDKIT_HOST="+host)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("cog-frontend build against BuildKit %s: %v\n%s", version, err, tail(string(out), 40))
		}
		in := run(t, dir, e.Binary, "inspect", "oci-layout://"+filepath.Join(dir, ".cog", "bundle"))
		if !strings.Contains(in, "linux/amd64") {
			t.Errorf("inspect of the bundle built on %s:\n%s", version, in)
		}
	})
}
