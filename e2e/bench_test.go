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
// "Warm" is a rebuild with nothing changed. All export an OCI layout. The
// frontend is measured both through the `# syntax=` line (BuildKit resolves
// and starts the frontend image) and in-process (frontend.Build through the
// Go client, as `cog-frontend build` runs it).

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
	bkclient "github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"
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
	copyFile(b, filepath.Join(e.Root, "bench", "cog_facts.py"), filepath.Join(facts, "cog_facts.py"))
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

	// The same frontend run in-process (`cog-frontend build`'s way): no
	// frontend image to resolve and start.
	inProcessBuildTimed := func(attrs map[string]string) time.Duration {
		start := time.Now()
		inProcessBuild(b, &e, dir, filepath.Join(out, "i"), attrs)
		d := time.Since(start)
		b.Logf("in-process build %v: %s", attrs, d.Round(10*time.Millisecond))
		return d
	}

	// The Dockerfile the same way, through the Go client and BuildKit's
	// builtin Dockerfile frontend, for an in-process to in-process ratio.
	dockerfileInProcess := func(attrs map[string]string) time.Duration {
		start := time.Now()
		inProcessDockerfile(b, &e, dir, dockerfile, facts, filepath.Join(out, "j"), attrs)
		d := time.Since(start)
		b.Logf("in-process Dockerfile build %v: %s", attrs, d.Round(10*time.Millisecond))
		return d
	}

	// Warm-up: base images pulled, download caches filled, for both.
	frontendBuild()
	dockerfileBuild()
	inProcessBuildTimed(nil)
	dockerfileInProcess(nil)

	var coldF, coldD, warmF, warmD, coldI, warmI, coldJ, warmJ time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Interleaved so that a slow moment of the shared machine hits
		// both sides alike.
		coldF += frontendBuild("--no-cache")
		coldD += dockerfileBuild("--no-cache")
		warmF += frontendBuild()
		warmD += dockerfileBuild()
		coldI += inProcessBuildTimed(map[string]string{"no-cache": ""})
		coldJ += dockerfileInProcess(map[string]string{"no-cache": ""})
		warmI += inProcessBuildTimed(nil)
		warmJ += dockerfileInProcess(nil)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(coldF.Seconds()/n, "cold-frontend-s")
	b.ReportMetric(coldD.Seconds()/n, "cold-dockerfile-s")
	b.ReportMetric(warmF.Seconds()/n, "warm-frontend-s")
	b.ReportMetric(warmD.Seconds()/n, "warm-dockerfile-s")
	b.ReportMetric(coldF.Seconds()/coldD.Seconds(), "cold-ratio")
	b.ReportMetric(warmF.Seconds()/warmD.Seconds(), "warm-ratio")
	b.ReportMetric(coldI.Seconds()/coldJ.Seconds(), "cold-inprocess-ratio")
	b.ReportMetric(warmI.Seconds()/warmJ.Seconds(), "warm-inprocess-ratio")
	per := func(d time.Duration) time.Duration { return (d / time.Duration(b.N)).Round(10 * time.Millisecond) }
	b.Logf("buildx (syntax line vs Dockerfile): cold %s vs %s, ratio %.2f; warm %s vs %s, ratio %.2f",
		per(coldF), per(coldD), coldF.Seconds()/coldD.Seconds(), per(warmF), per(warmD), warmF.Seconds()/warmD.Seconds())
	b.Logf("in-process (frontend.Build vs dockerfile.v0): cold %s vs %s, ratio %.2f; warm %s vs %s, ratio %.2f (target <= 1.0)",
		per(coldI), per(coldJ), coldI.Seconds()/coldJ.Seconds(), per(warmI), per(warmJ), warmI.Seconds()/warmJ.Seconds())
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

// inProcessDockerfile builds the hand-written Dockerfile through the Go
// client with BuildKit's builtin Dockerfile frontend, exporting an OCI
// layout like inProcessBuild.
func inProcessDockerfile(tb testing.TB, e *Env, dir, dockerfile, facts, layout string, attrs map[string]string) {
	tb.Helper()
	ctx := tb.Context()
	c, err := bkclient.New(ctx, e.BuildkitHost)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	mounts := map[string]fsutil.FS{}
	for name, d := range map[string]string{"context": dir, "dockerfile": filepath.Dir(dockerfile), "cogfacts": facts} {
		if mounts[name], err = fsutil.NewFS(d); err != nil {
			tb.Fatal(err)
		}
	}
	fa := map[string]string{
		"filename":                  filepath.Base(dockerfile),
		"build-arg:COG_SDK_VERSION": cogllb.DefaultSDKVersion,
		"context:cogfacts":          "local:cogfacts",
	}
	for k, v := range attrs {
		fa[k] = v
	}
	if err := os.MkdirAll(layout, 0o755); err != nil {
		tb.Fatal(err)
	}
	ch := make(chan *bkclient.SolveStatus)
	wait := statusVertices(ch)
	_, err = c.Solve(ctx, nil, bkclient.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: fa,
		LocalMounts:   mounts,
		Exports:       []bkclient.ExportEntry{{Type: bkclient.ExporterOCI, OutputDir: layout, Attrs: map[string]string{"tar": "false"}}},
	}, ch)
	wait()
	if err != nil {
		tb.Fatalf("in-process Dockerfile build: %v", err)
	}
}
