package main

// Ctrl-C and SIGTERM: the first signal cancels the command's context, so
// it stops cleanly (partial files kept for a resume, weights.lock
// untouched); the error it returns is then replaced by one line saying what
// was interrupted and how to continue, and the exit code is 128+signal
// (130 for Ctrl-C), as shells report it. A second signal exits at once.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
)

// resumeNote is the cobra annotation of a command that says how re-running
// it continues an interrupted run.
const resumeNote = "cog-frontend/resume"

// interrupts cancels a context on SIGINT or SIGTERM and remembers which.
type interrupts struct {
	got atomic.Value // syscall.Signal
}

func (in *interrupts) notify(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	c := make(chan os.Signal, 2)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		first := true
		for s := range c {
			sig, _ := s.(syscall.Signal)
			if !first {
				os.Exit(128 + int(sig))
			}
			first = false
			in.got.Store(sig)
			cancel()
		}
	}()
	return ctx, func() { signal.Stop(c); cancel() }
}

// signal is the signal received, 0 if none.
func (in *interrupts) signal() syscall.Signal {
	s, _ := in.got.Load().(syscall.Signal)
	return s
}

// reportInterrupted prints what was interrupted and how to continue, and
// returns the exit code.
func reportInterrupted(w io.Writer, cmd *cobra.Command, sig syscall.Signal) int {
	what := "cog-frontend"
	note := "Run it again."
	if cmd != nil {
		what = cmd.CommandPath()
		for c := cmd; c != nil; c = c.Parent() {
			if n := c.Annotations[resumeNote]; n != "" {
				note = n
				break
			}
		}
	}
	name := "interrupted"
	if sig == syscall.SIGTERM {
		name = "terminated"
	}
	fmt.Fprintf(w, "%s: `%s` stopped before it finished. %s\n", name, what, note)
	return 128 + int(sig)
}

// annotate sets the resume note of cmd.
func annotate(cmd *cobra.Command, note string) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[resumeNote] = note
	return cmd
}
