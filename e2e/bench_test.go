//go:build e2e

package e2e

// Benchmark: the CPU example built through cog-frontend versus the
// equivalent hand-written Dockerfile (bench/cpu-weights.Dockerfile) through
// BuildKit's stock Dockerfile frontend, on the same builder, in the same
// run, cold and warm. The targets are ratios <= 1.0 (frontend time divided
// by Dockerfile time).
//
//	go test -tags e2e -run '^$' -bench FrontendVsDockerfile -benchtime 1x -timeout 60m ./e2e
//
// "Cold" is --no-cache: every step runs again. Download caches (uv's cache
// mount, apt's) stay warm for both sides: one untimed warm-up build of each
// fills them, so the comparison measures the build, not PyPI's latency.
// "Warm" is a rebuild with nothing changed. Both export an OCI layout.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cogllb "github.com/cog-frontend/cog-frontend/llb"
)

func BenchmarkFrontendVsDockerfile(b *testing.B) {
	if envErr != nil {
		b.Fatalf("development environment not usable: %v\n%s", envErr, fixHint)
	}
	e := theEnv
	fe := frontendImage(b, &e)
	dir := prepareExample(b, &e, cpuWeights.name, fe)
	// The frontend never sends the weights or .cog/ (bundle format); keep
	// the Dockerfile's context the same.
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("__pycache__\n*.pyc\nweights\n.cog\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	facts := b.TempDir()
	copyFile(b, filepath.Join(e.Root, "llb", "python", "cog_facts.py"), filepath.Join(facts, "cog_facts.py"))
	dockerfile := filepath.Join(e.Root, "bench", "cpu-weights.Dockerfile")

	out := b.TempDir()
	frontendBuild := func(extra ...string) time.Duration {
		args := append([]string{"-f", "cog.yaml"}, extra...)
		return timedBuildx(b, &e, dir, append(args, "--output", "type=oci,dest="+filepath.Join(out, "f"), ".")...)
	}
	dockerfileBuild := func(extra ...string) time.Duration {
		args := append([]string{"-f", dockerfile, "--build-context", "cogfacts=" + facts,
			"--build-arg", "COG_SDK_VERSION=" + cogllb.DefaultSDKVersion}, extra...)
		return timedBuildx(b, &e, dir, append(args, "--output", "type=oci,dest="+filepath.Join(out, "d"), ".")...)
	}

	// Warm-up: base images pulled, download caches filled, for both.
	frontendBuild()
	dockerfileBuild()

	var coldF, coldD, warmF, warmD time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Interleaved so that a slow moment of the shared machine hits
		// both sides alike.
		coldF += frontendBuild("--no-cache")
		coldD += dockerfileBuild("--no-cache")
		warmF += frontendBuild()
		warmD += dockerfileBuild()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(coldF.Seconds()/n, "cold-frontend-s")
	b.ReportMetric(coldD.Seconds()/n, "cold-dockerfile-s")
	b.ReportMetric(warmF.Seconds()/n, "warm-frontend-s")
	b.ReportMetric(warmD.Seconds()/n, "warm-dockerfile-s")
	b.ReportMetric(coldF.Seconds()/coldD.Seconds(), "cold-ratio")
	b.ReportMetric(warmF.Seconds()/warmD.Seconds(), "warm-ratio")
	b.Logf("cold: frontend %s, Dockerfile %s, ratio %.2f; warm: frontend %s, Dockerfile %s, ratio %.2f (target <= 1.0)",
		coldF/time.Duration(b.N), coldD/time.Duration(b.N), coldF.Seconds()/coldD.Seconds(),
		warmF/time.Duration(b.N), warmD/time.Duration(b.N), warmF.Seconds()/warmD.Seconds())
}

// timedBuildx runs one docker buildx build and returns its wall time.
func timedBuildx(tb testing.TB, e *Env, dir string, args ...string) time.Duration {
	tb.Helper()
	full := append([]string{"buildx", "build", "--builder", e.Builder, "--progress=plain", "--provenance=false", "--sbom=false"}, args...)
	cmd := exec.Command("docker", full...)
	cmd.Dir = dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		tb.Fatalf("docker %s: %v\n%s", strings.Join(full, " "), err, tail(buf.String(), 60))
	}
	tb.Logf("docker buildx build %s: %s", strings.Join(args, " "), d.Round(10*time.Millisecond))
	return d
}

func copyFile(tb testing.TB, src, dst string) {
	tb.Helper()
	dt, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(dst, dt, 0o644); err != nil {
		tb.Fatal(fmt.Errorf("writing %s: %w", dst, err))
	}
}
