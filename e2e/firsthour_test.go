//go:build e2e

package e2e

// A new user's first hour with the CLI: it finds the development BuildKit
// without `eval "$(hack/dev-env env)"`, says in one line how to point it at
// one when none answers, and a push learns that the registry is not there
// before it builds anything.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cliEnv is the environment of a shell that never ran `hack/dev-env env`
// and has no usable Docker builder: no BUILDKIT_HOST, a Docker config of
// its own (so the current buildx builder is Docker's default) and no
// daemon behind it.
func cliEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "BUILDKIT_HOST", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "COG_DEV_STATE", "BUILDX_BUILDER":
			continue
		}
		env = append(env, kv)
	}
	return append(env, append([]string{"DOCKER_CONFIG=" + t.TempDir(), "DOCKER_HOST=unix://" + filepath.Join(t.TempDir(), "no-docker.sock")}, extra...)...)
}

// devState is hack/dev-env's state directory, from its buildkitd socket
// (STATE/run/buildkitd.sock).
func devState(t *testing.T, e *Env) string {
	t.Helper()
	sock, ok := strings.CutPrefix(e.BuildkitHost, "unix://")
	if !ok {
		t.Fatalf("BUILDKIT_HOST=%s is not a unix socket", e.BuildkitHost)
	}
	return filepath.Dir(filepath.Dir(sock))
}

func TestCLIFindsTheDevelopmentBuildKit(t *testing.T) {
	e := testEnv(t)
	dir := prepareExample(t, e, hello.name, "")
	layout := filepath.Join(t.TempDir(), "oci")
	cmd := exec.CommandContext(t.Context(), e.Binary, "build", dir, "--progress", "quiet", "--output", "type=oci,dest="+layout)
	cmd.Env = cliEnv(t, "COG_DEV_STATE="+devState(t, e))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cog-frontend build without BUILDKIT_HOST: %v\n%s", err, tail(string(out), 30))
	}
	if !strings.Contains(string(out), "using the development BuildKit "+e.BuildkitHost) {
		t.Errorf("the CLI does not say which BuildKit it found:\n%s", tail(string(out), 30))
	}
}

func TestCLISaysHowToPointAtABuildKit(t *testing.T) {
	e := testEnv(t)
	dir := prepareExample(t, e, hello.name, "")
	cmd := exec.CommandContext(t.Context(), e.Binary, "build", dir, "--progress", "quiet")
	cmd.Env = cliEnv(t, "COG_DEV_STATE="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("cog-frontend build with no BuildKit anywhere succeeded:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "BUILDKIT_HOST=unix:///") || !strings.Contains(lines[0], "--builder NAME") || !strings.Contains(lines[0], "hack/dev-env up") {
		t.Errorf("want one line saying how to point the CLI at a BuildKit, got:\n%s", out)
	}
}

// TestPushChecksTheRegistryBeforeBuilding: a push to a registry that does
// not answer fails in seconds, naming the registry, and builds nothing.
func TestPushChecksTheRegistryBeforeBuilding(t *testing.T) {
	e := testEnv(t)
	dir := prepareExample(t, e, hello.name, "")
	start := time.Now()
	cmd := exec.CommandContext(t.Context(), e.Binary, "push", "127.0.0.1:9/nowhere/model:v1", "--progress", "plain")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("push to a registry that is not there succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "cannot reach registry 127.0.0.1:9") || !strings.Contains(string(out), "nothing was built") {
		t.Errorf("push error does not name the unreachable registry:\n%s", tail(string(out), 20))
	}
	if strings.Contains(string(out), "[cog]") {
		t.Errorf("push started building before checking the registry:\n%s", tail(string(out), 20))
	}
	if d := time.Since(start); d > 45*time.Second {
		t.Errorf("push took %s to find the registry unreachable", d)
	}
}
