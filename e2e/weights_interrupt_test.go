//go:build e2e

package e2e

// Ctrl-C during `weights import` through the real binary. Run with -run 'TestWeightsReliability'.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/internal/weightgen"
)

// slowSpec is a weight whose import takes seconds on two cores: bundled
// incompressible files, deflated at level 9.
var slowSpec = weightgen.Spec{Seed: 7, SmallFiles: 16, SmallMin: 300 << 10, SmallMax: 400 << 10}

func TestWeightsReliabilityInterruptedImportExits130(t *testing.T) {
	e := testEnv(t)
	dir := reliabilityProject(t, e, []string{"big"}, map[string]weightgen.Spec{"big": slowSpec})
	cmd := exec.CommandContext(t.Context(), e.Binary, "weights", "import")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once packing has started: its layer is being written.
	ingest := filepath.Join(dir, ".cache-store", "ingest")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ents, _ := os.ReadDir(ingest); len(ents) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the import never started packing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	t.Logf("stopped %s after SIGINT; stderr:\n%s", time.Since(start).Round(time.Millisecond), stderr.String())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit: %v, want code 130", err)
	}
	msg := stderr.String()
	if strings.Contains(msg, "context canceled") {
		t.Errorf("stderr says %q", "context canceled")
	}
	for _, want := range []string{"interrupted: `cog-frontend weights import` stopped", "weights.lock was not changed", "run it again to continue"} {
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(want)) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "weights.lock")); !os.IsNotExist(err) {
		t.Errorf("an interrupted import wrote weights.lock")
	}
	// Running it again finishes the job.
	if _, stderr, code := runSplit(t, dir, e.Binary, "weights", "import"); code != 0 {
		t.Fatalf("re-run: exit %d: %s", code, stderr)
	}
}
