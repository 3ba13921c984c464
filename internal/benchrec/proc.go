package benchrec

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// IO is this process's I/O counters (/proc/self/io).
type IO struct {
	RChar     int64 // bytes returned by read syscalls, page cache hits included
	ReadBytes int64 // bytes the process caused to be read from storage
}

// SelfIO reads /proc/self/io.
func SelfIO() (IO, error) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return IO{}, err
	}
	defer f.Close()
	var io IO
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch {
		case !ok:
		case k == "rchar":
			io.RChar = n
		case k == "read_bytes":
			io.ReadBytes = n
		}
	}
	return io, sc.Err()
}

// ResetPeakRSS returns freed memory to the OS and resets the kernel's peak
// RSS of this process (VmHWM) to its current RSS, so that PeakRSS measures
// what happens from now on, not the fixture generation before.
func ResetPeakRSS() error {
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// PeakRSS is VmHWM of /proc/self/status, in bytes.
func PeakRSS() (int64, error) {
	dt, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(dt), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/self/status has no VmHWM line")
}

// Proc is what one child process used.
type Proc struct {
	Wall      time.Duration
	PeakRSS   int64 // bytes
	DiskRead  int64 // bytes read from storage (rusage inblock × 512)
	CPU       time.Duration
	Output    string // stdout and stderr
	ExitError error
}

// GNUTime is the measuring wrapper Command uses.
const GNUTime = "/usr/bin/time"

// Command runs name args in dir with env added and measures it through GNU
// time. A Go process starts children with vfork, and the kernel then
// counts the parent's peak RSS into the child's (exec records the old mm's
// high-water mark), so the child's own rusage would be the test process's
// RSS, not the tool's; GNU time forks the tool from a small process and
// reports the tool's own maximum.
func Command(ctx context.Context, dir string, env []string, name string, args ...string) (Proc, error) {
	if _, err := os.Stat(GNUTime); err != nil {
		return Proc{}, fmt.Errorf("%s (GNU time) is needed to measure peak RSS and disk reads of a child process: %v; install it (Debian: apt-get install time)", GNUTime, err)
	}
	f, err := os.CreateTemp("", "benchrec-time-")
	if err != nil {
		return Proc{}, err
	}
	f.Close()
	defer os.Remove(f.Name())
	cmd := exec.CommandContext(ctx, GNUTime, append([]string{"-o", f.Name(), "-f", "%M %I %U %S", name}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	p := Proc{Wall: time.Since(start), Output: out.String(), ExitError: err}
	if err != nil {
		return p, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out.String(), 30))
	}
	dt, rerr := os.ReadFile(f.Name())
	if rerr != nil {
		return p, rerr
	}
	// The last line: GNU time may put "Command exited with ..." first.
	lines := strings.Split(strings.TrimSpace(string(dt)), "\n")
	var kb, blocks int64
	var user, sys float64
	if _, err := fmt.Sscanf(lines[len(lines)-1], "%d %d %f %f", &kb, &blocks, &user, &sys); err != nil {
		return p, fmt.Errorf("reading GNU time's output %q: %v", dt, err)
	}
	p.PeakRSS, p.DiskRead = kb<<10, blocks*512
	p.CPU = time.Duration((user + sys) * float64(time.Second))
	return p, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
