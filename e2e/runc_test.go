//go:build e2e

package e2e

// Running a built model image the way a node would: unpack its OCI layout
// with umoci, bind-mount weights read-only at their targets, start it with
// runc in its own network namespace, and talk HTTP to it from inside that
// namespace with nsenter + curl (the container's port 5000 never touches the
// host's network, so tests cannot collide with anything listening there).

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

// bindMount is a host directory mounted read-only into the container.
type bindMount struct {
	Source string // host path
	Target string // absolute path in the container
}

// container is a model image running under runc.
type container struct {
	ID     string
	PID    int
	Bundle string
	Log    string // the container's stdout+stderr
	// refreshLog, when set, rewrites Log from the container's runtime
	// (docker logs) before it is read.
	refreshLog func()
}

// runImage unpacks image ref (a tag inside the OCI layout dir) and starts
// it detached. The container is killed and deleted, and its bundle removed,
// when the test ends.
func runImage(t *testing.T, layoutDir, ref string, mounts []bindMount) *container {
	t.Helper()
	return runImageArgs(t, layoutDir, ref, mounts, nil)
}

// runImageArgs is runImage with the process's arguments replaced (nil
// keeps the image's entrypoint and command), e.g. to serve trainings as
// `cog train` does: python -m cog.server.http --x-mode train.
func runImageArgs(t *testing.T, layoutDir, ref string, mounts []bindMount, args []string) *container {
	t.Helper()
	for _, tool := range []string{"umoci", "runc", "nsenter", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run built images (apt-get install umoci runc util-linux curl): %v", tool, err)
		}
	}
	work := t.TempDir()
	bundle := filepath.Join(work, "bundle")
	run(t, "", "umoci", "unpack", "--image", layoutDir+":"+ref, bundle)

	cfgPath := filepath.Join(bundle, "config.json")
	var spec map[string]any
	dt, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dt, &spec); err != nil {
		t.Fatal(err)
	}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false // detached: stdio goes to the log file
	if args != nil {
		proc["args"] = args
	}
	ms, _ := spec["mounts"].([]any)
	for _, m := range mounts {
		ms = append(ms, map[string]any{
			"destination": m.Target, "type": "bind", "source": m.Source,
			"options": []string{"rbind", "ro"},
		})
	}
	spec["mounts"] = ms
	if dt, err = json.MarshalIndent(spec, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, dt, 0o644); err != nil {
		t.Fatal(err)
	}

	c := &container{
		ID:     fmt.Sprintf("cog-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()),
		Bundle: bundle,
		Log:    filepath.Join(work, "container.log"),
	}
	logf, err := os.Create(c.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	pidFile := filepath.Join(work, "pid")
	cmd := exec.CommandContext(t.Context(), "runc", "run", "-d", "--pid-file", pidFile, "--bundle", bundle, c.ID)
	cmd.Stdout, cmd.Stderr = logf, logf
	t.Cleanup(func() {
		_ = exec.Command("runc", "kill", c.ID, "KILL").Run()
		if out, err := exec.Command("runc", "delete", "--force", c.ID).CombinedOutput(); err != nil && !strings.Contains(string(out), "does not exist") {
			t.Errorf("runc delete %s: %v: %s", c.ID, err, out)
		}
	})
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(c.Log)
		t.Fatalf("runc run %s: %v\n%s", c.ID, err, out)
	}
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscan(string(pid), &c.PID); err != nil {
		t.Fatalf("pid file %q: %v", pid, err)
	}
	return c
}

// curl runs curl inside the container's network namespace and returns the
// body; it fails the test on a transport error or an HTTP error status.
func (c *container) curl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.curlErr(t, args...)
	if err != nil {
		t.Fatalf("curl %v: %v\n%s\ncontainer log:\n%s", args, err, out, c.logs())
	}
	return out
}

func (c *container) curlErr(t *testing.T, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"--net=/proc/" + fmt.Sprint(c.PID) + "/ns/net", "curl", "-sS", "--fail-with-body", "--max-time", "60"}, args...)
	out, err := exec.CommandContext(t.Context(), "nsenter", full...).CombinedOutput()
	return string(out), err
}

func (c *container) logs() string {
	if c.refreshLog != nil {
		c.refreshLog()
	}
	dt, _ := os.ReadFile(c.Log)
	return string(dt)
}

// waitReady polls GET /health-check until the model reports READY (setup()
// finished) or the deadline passes.
func (c *container) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		out, err := c.curlErr(t, "http://127.0.0.1:5000/health-check")
		if err == nil {
			var h struct {
				Status string `json:"status"`
			}
			if json.Unmarshal([]byte(out), &h) == nil && h.Status == "READY" {
				return
			}
			if h.Status == "SETUP_FAILED" || h.Status == "DEFUNCT" {
				t.Fatalf("model setup failed: %s\ncontainer log:\n%s", out, c.logs())
			}
		}
		last = out
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("model not READY after %s; last /health-check: %s\ncontainer log:\n%s", timeout, last, c.logs())
}
