//go:build e2e

package e2e

// Smoke tests of the development environment itself: they prove that
// buildkitd really runs containers (runc), that the seeded base images are
// served under their real docker.io and ghcr.io names through the mirror,
// that RUN steps reach Debian's mirror, that docker buildx drives the same
// daemon, and that the registry takes pushes and deletes. Every build runs
// with --no-cache so a second run exercises the same paths again.

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// uvVersion is the uv that hack/dev-env seeds (Cog's pinned uv).
const uvVersion = "0.9.26"

// writeFiles writes name → content files into a fresh directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildctlDockerfile builds dir/Dockerfile with buildctl and BuildKit's
// built-in Dockerfile frontend, exporting the result with the given output
// (e.g. "type=local,dest=DIR").
func buildctlDockerfile(t *testing.T, e *Env, dir, output string, extra ...string) string {
	t.Helper()
	args := []string{"--addr", e.BuildkitHost, "build", "--progress", "plain", "--no-cache",
		"--frontend", "dockerfile.v0", "--local", "context=" + dir, "--local", "dockerfile=" + dir,
		"--output", output}
	return run(t, dir, e.Buildctl(), append(args, extra...)...)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("expected build output %s: %v", path, err)
	}
	return string(b)
}

// goModVersion is the Go version in go.mod, which hack/dev-env seeds as
// golang:<version> and golang:<major.minor>.
func goModVersion(t *testing.T, root string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var v string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 2 && fields[0] == "go" && v == "" {
			v = fields[1]
		}
		if len(fields) == 2 && fields[0] == "toolchain" {
			v = strings.TrimPrefix(fields[1], "go")
		}
	}
	if v == "" {
		t.Fatal("no go directive in go.mod")
	}
	return v
}

func nonce(t *testing.T) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// TestEnvBaseImagesRun runs a command in every seeded base image, by its
// real docker.io name, and checks what it printed.
func TestEnvBaseImagesRun(t *testing.T) {
	t.Parallel()
	e := devEnv(t)
	gov := goModVersion(t, e.Root)
	minor := gov[:strings.LastIndex(gov, ".")]
	pyCheck := `python -c "import sys, glob; assert not glob.glob('/usr/lib/python3*/EXTERNALLY-MANAGED'), 'EXTERNALLY-MANAGED present'; print(sys.version.split()[0])" > /out` +
		` && python3 --version >> /out && pip --version >> /out && pip3 --version >> /out` +
		` && python -m venv /tmp/venv && /tmp/venv/bin/python -c "print('venv-ok')" >> /out && echo "$PYTHON_VERSION $LANG" >> /out`
	dir := writeFiles(t, map[string]string{"Dockerfile": `
FROM python:3.11-slim AS py311
RUN ` + pyCheck + `
FROM python:3.13-slim AS py313
RUN ` + pyCheck + `
FROM golang:` + gov + ` AS gopatch
RUN go version > /out && go env GOROOT GOPATH >> /out && git --version >> /out \
 && go mod download -json github.com/spf13/pflag@v1.0.10 | grep -q '"Version": "v1.0.10"' && echo goproxy-ok >> /out
FROM golang:` + minor + ` AS gominor
RUN go version > /out
FROM scratch
COPY --from=py311 /out /py311.txt
COPY --from=py313 /out /py313.txt
COPY --from=gopatch /out /go.txt
COPY --from=gominor /out /gominor.txt
`})
	out := t.TempDir()
	buildctlDockerfile(t, e, dir, "type=local,dest="+out)

	for file, want := range map[string][]string{
		"py311.txt":   {"3.11.", "Python 3.11", "pip ", "venv-ok", "C.UTF-8"},
		"py313.txt":   {"3.13.", "Python 3.13", "pip ", "venv-ok", "C.UTF-8"},
		"go.txt":      {"go version go" + gov + " linux/amd64", "/usr/local/go", "/go", "git version", "goproxy-ok"},
		"gominor.txt": {"go version go" + gov + " "},
	} {
		got := readFile(t, filepath.Join(out, file))
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: want %q in:\n%s", file, w, got)
			}
		}
	}
	// PYTHON_VERSION in the image config must match the interpreter.
	py311 := strings.Fields(readFile(t, filepath.Join(out, "py311.txt")))
	if len(py311) == 0 || !strings.Contains(readFile(t, filepath.Join(out, "py311.txt")), py311[0]+" C.UTF-8") {
		t.Errorf("PYTHON_VERSION does not match python's version in python:3.11-slim:\n%s", readFile(t, filepath.Join(out, "py311.txt")))
	}
}

// TestEnvRunStepNetwork checks that a RUN step has the network a Cog build
// needs: apt-get update and install against Debian's mirror, and pip
// installing from PyPI over HTTPS (the image trusts the machine's CAs).
func TestEnvRunStepNetwork(t *testing.T) {
	t.Parallel()
	e := devEnv(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": `
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends tini && tini --version > /out
RUN pip install --no-cache-dir six==1.17.0 && python -c "import six; print('six', six.__version__)" >> /out
FROM scratch
COPY --from=build /out /net.txt
`})
	out := t.TempDir()
	buildctlDockerfile(t, e, dir, "type=local,dest="+out)
	got := readFile(t, filepath.Join(out, "net.txt"))
	for _, want := range []string{"tini version", "six 1.17.0"} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in RUN output:\n%s", want, got)
		}
	}
}

// TestEnvBuildxRemoteBuilder builds through docker buildx and the remote
// builder; there is no Docker engine, so this only works if buildx drives
// our buildkitd.
func TestEnvBuildxRemoteBuilder(t *testing.T) {
	t.Parallel()
	e := devEnv(t)
	n := nonce(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": `
FROM python:3.13-slim AS build
ARG NONCE
RUN python -c "import sys, os; print(os.environ['NONCE'], sys.version_info[:2])" > /out
FROM scratch
COPY --from=build /out /out.txt
`})
	out := t.TempDir()
	run(t, dir, "docker", "buildx", "build", "--builder", e.Builder, "--progress", "plain", "--no-cache",
		"--build-arg", "NONCE="+n, "--output", "type=local,dest="+out, dir)
	if got, want := strings.TrimSpace(readFile(t, filepath.Join(out, "out.txt"))), n+" (3, 13)"; got != want {
		t.Fatalf("buildx build output = %q, want %q", got, want)
	}
	info := run(t, dir, "docker", "buildx", "inspect", e.Builder)
	if !strings.Contains(info, e.BuildkitHost) {
		t.Errorf("builder %s does not point at %s:\n%s", e.Builder, e.BuildkitHost, info)
	}
}

// TestEnvGhcrMirror pulls ghcr.io/astral-sh/uv through buildkitd's ghcr.io
// mirror (the local registry's astral-sh/uv) and runs uv in a Python image,
// installing a package from PyPI with it.
func TestEnvGhcrMirror(t *testing.T) {
	t.Parallel()
	e := devEnv(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": `
FROM ghcr.io/astral-sh/uv:` + uvVersion + ` AS uv
FROM python:3.13-slim AS build
COPY --from=uv /uv /uvx /usr/local/bin/
RUN uv --version > /out && uvx --version >> /out && uv venv /tmp/venv >> /out 2>&1 \
 && uv pip install --python /tmp/venv/bin/python six==1.17.0 >> /out 2>&1 \
 && /tmp/venv/bin/python -c "import six; print('uv-installed six', six.__version__)" >> /out
FROM scratch
COPY --from=build /out /uv.txt
`})
	out := t.TempDir()
	buildctlDockerfile(t, e, dir, "type=local,dest="+out)
	got := readFile(t, filepath.Join(out, "uv.txt"))
	if !strings.Contains(got, "uv "+uvVersion) || !strings.Contains(got, "uvx "+uvVersion) || !strings.Contains(got, "uv-installed six 1.17.0") {
		t.Fatalf("uv from ghcr.io mirror printed:\n%s", got)
	}
}

// TestEnvRegistryPushPullDelete pushes an image to the registry, builds
// from it, and deletes it again.
func TestEnvRegistryPushPullDelete(t *testing.T) {
	t.Parallel()
	e := devEnv(t)
	repo := e.TempRepo(t, "smoke")
	path := strings.TrimPrefix(repo, e.Registry+"/")
	n := nonce(t)

	pushDir := writeFiles(t, map[string]string{"Dockerfile": `
FROM python:3.11-slim
ARG NONCE
RUN echo "$NONCE" > /nonce
`})
	buildctlDockerfile(t, e, pushDir, "type=image,name="+repo+":v1,push=true", "--opt", "build-arg:NONCE="+n)
	digest, err := e.ManifestDigest(t.Context(), path, "v1")
	if err != nil || digest == "" {
		t.Fatalf("after push, %s:v1 not in registry (digest %q, err %v)", repo, digest, err)
	}

	pullDir := writeFiles(t, map[string]string{"Dockerfile": `
FROM ` + repo + `:v1 AS pulled
RUN cp /nonce /out
FROM scratch
COPY --from=pulled /out /nonce.txt
`})
	out := t.TempDir()
	buildctlDockerfile(t, e, pullDir, "type=local,dest="+out)
	if got := strings.TrimSpace(readFile(t, filepath.Join(out, "nonce.txt"))); got != n {
		t.Fatalf("image pulled back from %s has nonce %q, want %q", repo, got, n)
	}

	if err := e.deleteRepo(path); err != nil {
		t.Fatalf("deleting %s: %v", repo, err)
	}
	if d, err := e.ManifestDigest(t.Context(), path, "v1"); err != nil || d != "" {
		t.Fatalf("after delete, %s:v1 still resolves (digest %q, err %v)", repo, d, err)
	}
}

// TestHarnessBinary checks the binary TestMain built for the suite.
func TestHarnessBinary(t *testing.T) {
	e := testEnv(t)
	if got := run(t, e.Root, e.Binary, "--version"); !strings.Contains(got, "e2e") {
		t.Fatalf("%s --version = %q, want the version set by the harness (e2e)", e.Binary, got)
	}
}
