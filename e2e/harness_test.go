//go:build e2e

// Package e2e holds the end-to-end tests. They run against the real
// development environment that `hack/dev-env up` starts (buildkitd, a CNCF
// distribution registry, a docker buildx builder with the remote driver) and
// read where it is from the variables `hack/dev-env env` prints. A missing
// environment fails every test with a message saying what is missing; nothing
// here ever skips.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Env is the development environment the e2e tests run against.
type Env struct {
	Root         string // repo root
	BuildkitHost string // e.g. unix:///root/.cache/cog-frontend-dev/run/buildkitd.sock
	Registry     string // e.g. 127.0.0.1:5001 (plain HTTP, CNCF distribution)
	Builder      string // docker buildx builder name (remote driver)
	ToolsDir     string // dir holding buildkitd, buildctl, registry, docker-buildx ...
	Binary       string // path to a cog-frontend binary built once for this test run
}

// Set once by TestMain; read-only afterwards.
var (
	theEnv    Env
	envErr    error // what is missing from the environment
	binaryErr error // why the cog-frontend binary did not build
)

const fixHint = "bring the environment up with `hack/dev-env up` and export it with `eval \"$(hack/dev-env env)\"` (or run `make e2e`)"

func TestMain(m *testing.M) {
	theEnv, envErr = discover()
	if envErr != nil {
		fmt.Fprintf(os.Stderr, "e2e: development environment not usable: %v\ne2e: %s\n", envErr, fixHint)
	} else {
		fmt.Fprintf(os.Stderr, "e2e: buildkitd %s, registry %s, builder %s, tools %s\n",
			theEnv.BuildkitHost, theEnv.Registry, theEnv.Builder, theEnv.ToolsDir)
	}
	code := func() int {
		tmp, err := os.MkdirTemp("", "cog-frontend-e2e-")
		if err != nil {
			binaryErr = err
			return m.Run()
		}
		defer os.RemoveAll(tmp)
		if theEnv.Root != "" {
			theEnv.Binary, binaryErr = buildBinary(theEnv.Root, tmp)
			if binaryErr != nil {
				fmt.Fprintf(os.Stderr, "e2e: %v\n", binaryErr)
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// testEnv returns the environment, failing the test (never skipping) if the
// environment is missing or the cog-frontend binary did not build.
func testEnv(t *testing.T) *Env {
	t.Helper()
	e := devEnv(t)
	if binaryErr != nil {
		t.Fatalf("cog-frontend binary: %v", binaryErr)
	}
	return e
}

// devEnv is testEnv without needing the cog-frontend binary: the smoke tests
// of the environment itself use it so they say something useful even while
// the binary does not build.
func devEnv(t *testing.T) *Env {
	t.Helper()
	if envErr != nil {
		t.Fatalf("development environment not usable: %v\n%s", envErr, fixHint)
	}
	e := theEnv
	return &e
}

// discover reads the environment variables and checks that each part
// answers: buildkitd, the registry, the buildx builder.
func discover() (Env, error) {
	e := Env{
		BuildkitHost: os.Getenv("BUILDKIT_HOST"),
		Registry:     os.Getenv("COG_DEV_REGISTRY"),
		Builder:      os.Getenv("COG_DEV_BUILDER"),
		ToolsDir:     os.Getenv("COG_DEV_TOOLS"),
	}
	root, err := repoRoot()
	if err != nil {
		return e, err
	}
	e.Root = root
	var missing []string
	for k, v := range map[string]string{
		"BUILDKIT_HOST": e.BuildkitHost, "COG_DEV_REGISTRY": e.Registry,
		"COG_DEV_BUILDER": e.Builder, "COG_DEV_TOOLS": e.ToolsDir,
	} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return e, fmt.Errorf("environment variables not set: %s", strings.Join(slices.Sorted(slices.Values(missing)), ", "))
	}
	for _, tool := range []string{"buildkitd", "buildctl", "registry", "docker-buildx"} {
		if _, err := os.Stat(filepath.Join(e.ToolsDir, tool)); err != nil {
			return e, fmt.Errorf("COG_DEV_TOOLS=%s has no %s: %v", e.ToolsDir, tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, filepath.Join(e.ToolsDir, "buildctl"), "--addr", e.BuildkitHost, "debug", "workers").CombinedOutput(); err != nil {
		return e, fmt.Errorf("buildkitd at BUILDKIT_HOST=%s does not answer `buildctl debug workers`: %v: %s", e.BuildkitHost, err, bytes.TrimSpace(out))
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.Registry+"/v2/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return e, fmt.Errorf("registry at COG_DEV_REGISTRY=%s does not answer /v2/: %v", e.Registry, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return e, fmt.Errorf("registry at COG_DEV_REGISTRY=%s: GET /v2/ returned %s", e.Registry, resp.Status)
	}
	if out, err := exec.CommandContext(ctx, "docker", "buildx", "inspect", e.Builder).CombinedOutput(); err != nil {
		return e, fmt.Errorf("docker buildx builder COG_DEV_BUILDER=%s not found: %v: %s", e.Builder, err, bytes.TrimSpace(out))
	}
	return e, nil
}

// repoRoot walks up from the test's working directory to the go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// buildBinary builds cog-frontend once for the whole run.
func buildBinary(root, dir string) (string, error) {
	bin := filepath.Join(dir, "cog-frontend")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version=e2e", "-o", bin, "./cmd/cog-frontend")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/cog-frontend failed: %v\n%s", err, out)
	}
	return bin, nil
}

// run runs name with args in dir (the test's context bounds it), fails the
// test with the command's output if it fails, and returns the combined
// output. The process inherits the environment, so BUILDKIT_HOST etc. apply.
func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(t, dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return out
}

// runErr is run for commands that are expected to fail: it returns the
// combined output and the error instead of failing the test.
func runErr(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	t.Logf("$ %s %s  (%s)", name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return buf.String(), err
}

// Buildctl returns the path of the buildctl matching the running buildkitd.
func (e *Env) Buildctl() string { return filepath.Join(e.ToolsDir, "buildctl") }

// TempRepo returns a fresh repository name in the dev registry, e.g.
// "127.0.0.1:5001/e2e/smoke-1a2b3c4d", and deletes every manifest pushed
// to it when the test ends, so runs do not accumulate or collide.
func (e *Env) TempRepo(t *testing.T, base string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	path := "e2e/" + base + "-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if err := e.deleteRepo(path); err != nil {
			t.Errorf("cleaning up %s/%s: %v", e.Registry, path, err)
		}
	})
	return e.Registry + "/" + path
}

// manifestAccept lists the manifest types the registry is asked for.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// deleteRepo deletes all tagged manifests of a repository (blobs are left
// for the registry's garbage collection). A repository nobody pushed to is
// not an error.
func (e *Env) deleteRepo(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tags, err := e.Tags(ctx, path)
	if err != nil {
		return err
	}
	for _, tag := range tags {
		digest, err := e.ManifestDigest(ctx, path, tag)
		if err != nil {
			return err
		}
		if digest == "" {
			continue
		}
		if err := e.registryDo(ctx, http.MethodDelete, "/v2/"+path+"/manifests/"+digest, nil, http.StatusAccepted, http.StatusNotFound); err != nil {
			return err
		}
	}
	return nil
}

// Tags lists a repository's tags; a missing repository has none.
func (e *Env) Tags(ctx context.Context, path string) ([]string, error) {
	var body struct {
		Tags []string `json:"tags"`
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.Registry+"/v2/"+path+"/tags/list", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s tags: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	return body.Tags, nil
}

// ManifestDigest returns the digest a tag points at, or "" if it does not
// exist.
func (e *Env) ManifestDigest(ctx context.Context, path, ref string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, "http://"+e.Registry+"/v2/"+path+"/manifests/"+ref, nil)
	req.Header.Set("Accept", manifestAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Header.Get("Docker-Content-Digest"), nil
	case http.StatusNotFound:
		return "", nil
	default:
		return "", fmt.Errorf("HEAD %s:%s: %s", path, ref, resp.Status)
	}
}

func (e *Env) registryDo(ctx context.Context, method, urlPath string, body []byte, ok ...int) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+e.Registry+urlPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	for _, c := range ok {
		if resp.StatusCode == c {
			return nil
		}
	}
	return errors.New(method + " " + urlPath + ": " + resp.Status)
}
