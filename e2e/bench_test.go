//go:build e2e

package e2e

// Benchmark: each CPU example (examples/hello, examples/cpu-weights) built
// through cog-frontend versus the equivalent hand-written Dockerfile
// (bench/<example>.Dockerfile) through BuildKit's stock Dockerfile
// frontend, on the same builder, in the same run, cold and warm; and the
// CLI route (`cog-frontend build`) versus the buildx route (`docker buildx
// build -f cog.yaml .` with the `# syntax=` line: BuildKit resolves and
// starts the frontend image). Every target is a ratio <= 1.0.
//
//	COG_BENCH_RUNS=3 go test -tags e2e -run '^$' -bench FrontendVsDockerfile -benchtime 1x -timeout 60m ./e2e
//
// "Cold" is --no-cache: every step runs again. Download caches (uv's cache
// mount, apt's) stay warm for all: one untimed warm-up build of each fills
// them, so the comparison measures the build, not PyPI's latency. "Warm" is
// a rebuild with nothing changed. All export an OCI layout. The CLI has no
// --no-cache flag, so the cold CLI route is frontend.Build run in-process
// through the Go client with no-cache, which is what `cog-frontend build`
// runs; the warm CLI route is the real `cog-frontend build` binary.

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/internal/benchrec"
	cogllb "github.com/cog-frontend/cog-frontend/llb"
)

func BenchmarkFrontendVsDockerfile(b *testing.B) {
	if envErr != nil {
		b.Fatalf("development environment not usable: %v\n%s", envErr, fixHint)
	}
	if binaryErr != nil {
		b.Fatalf("cog-frontend binary: %v", binaryErr)
	}
	e := theEnv
	rec := benchrec.New(b, "build")
	rec.Tool("cog-frontend", e.Binary, "--version")
	rec.Tool("docker buildx", filepath.Join(e.ToolsDir, "docker-buildx"), "version")
	rec.Tool("buildkitd (the builder)", filepath.Join(e.ToolsDir, "buildkitd"), "--version")
	fe := frontendImage(b, &e)
	facts := b.TempDir()
	copyFile(b, filepath.Join(e.Root, "bench", "cog_facts.py"), filepath.Join(facts, "cog_facts.py"))
	runs := benchrec.Runs(b)
	for _, ex := range []example{hello, cpuWeights} {
		row := "build examples/" + ex.name
		dir := prepareExample(b, &e, ex.name, fe)
		// The frontend never sends the weights or .cog/ (bundle format);
		// keep the Dockerfile's context the same.
		if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("__pycache__\n*.pyc\nweights\n.cog\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		dockerfile := filepath.Join(e.Root, "bench", ex.name+".Dockerfile")
		out := b.TempDir()
		buildx := func(extra ...string) time.Duration {
			args := append([]string{"-f", "cog.yaml"}, extra...)
			return timedBuildx(b, &e, dir, append(args, "--output", "type=oci,dest="+filepath.Join(out, "f"), ".")...)
		}
		dockerfileBuild := func(extra ...string) time.Duration {
			args := append([]string{"-f", dockerfile, "--build-context", "cogfacts=" + facts,
				"--build-arg", "COG_SDK_VERSION=" + cogllb.DefaultSDKVersion}, extra...)
			return timedBuildx(b, &e, dir, append(args, "--output", "type=oci,dest="+filepath.Join(out, "d"), ".")...)
		}
		cli := func() time.Duration {
			p := benchProc(b, dir, nil, e.Binary, "build", dir, "--progress", "plain", "--output", "type=oci,dest="+filepath.Join(out, "c"))
			return p.Wall
		}
		inProcessCold := func() time.Duration {
			start := time.Now()
			inProcessBuild(b, &e, dir, filepath.Join(out, "i"), map[string]string{"no-cache": ""})
			d := time.Since(start)
			b.Logf("in-process build, no-cache: %s", d.Round(10*time.Millisecond))
			return d
		}
		// Warm-up: base images pulled, download caches filled, for all.
		buildx()
		dockerfileBuild()
		cli()

		// per row: the ratios and each run's times, for the why of a miss
		ratios, times := map[string][]float64{}, map[string][]string{}
		for i := range runs {
			// Interleaved so that a slow moment of the shared machine hits
			// every side alike.
			coldF, coldD, coldC := buildx("--no-cache"), dockerfileBuild("--no-cache"), inProcessCold()
			warmF, warmD, warmC := buildx(), dockerfileBuild(), cli()
			for _, r := range []struct {
				row, versus, ourName, theirName string
				ours, theirs                    time.Duration
			}{
				{row + ", cold", "the equivalent Dockerfile, same builder", "cog.yaml", "Dockerfile", coldF, coldD},
				{row + ", warm", "the equivalent Dockerfile, same builder", "cog.yaml", "Dockerfile", warmF, warmD},
				{row + ", cold, CLI route", "the buildx route (`docker buildx build -f cog.yaml .`)", "CLI", "buildx", coldC, coldF},
				{row + ", warm, CLI route", "the buildx route (`docker buildx build -f cog.yaml .`)", "CLI", "buildx", warmC, warmF},
			} {
				rec.Ratio(r.row, r.versus, i, r.ours.Seconds()/r.theirs.Seconds(), 1, 0)
				ratios[r.row] = append(ratios[r.row], r.ours.Seconds()/r.theirs.Seconds())
				times[r.row] = append(times[r.row], fmt.Sprintf("run %d: %s %s, %s %s", i, r.ourName, r.ours.Round(10*time.Millisecond), r.theirName, r.theirs.Round(10*time.Millisecond)))
			}
			for _, v := range []struct {
				suffix, who string
				d           time.Duration
			}{
				{", cold", "docker buildx build -f cog.yaml", coldF}, {", cold", "docker buildx build -f Dockerfile", coldD},
				{", cold", "frontend.Build in-process (the CLI's code, no-cache)", coldC},
				{", warm", "docker buildx build -f cog.yaml", warmF}, {", warm", "docker buildx build -f Dockerfile", warmD},
				{", warm", "cog-frontend build", warmC},
			} {
				rec.Value(row+v.suffix, v.who, "time", i, v.d.Seconds(), benchrec.Seconds, 0)
			}
			b.Logf("%s run %d: cold %s vs Dockerfile %s (CLI route %s); warm %s vs %s (CLI %s)", row, i,
				coldF.Round(10*time.Millisecond), coldD.Round(10*time.Millisecond), coldC.Round(10*time.Millisecond),
				warmF.Round(10*time.Millisecond), warmD.Round(10*time.Millisecond), warmC.Round(10*time.Millisecond))
			b.ReportMetric(coldF.Seconds()/coldD.Seconds(), ex.name+"-cold-ratio")
			b.ReportMetric(warmF.Seconds()/warmD.Seconds(), ex.name+"-warm-ratio")
		}
		for _, r := range slices.Sorted(maps.Keys(ratios)) {
			if medianOf(ratios[r]) > 1 {
				rec.Note(r, strings.Join(times[r], "; ")+".")
			}
		}
	}
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
