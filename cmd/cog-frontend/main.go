// Command cog-frontend is the project's one binary. BuildKit starts it as a
// gateway frontend (`cog-frontend gateway`, the frontend image's
// entrypoint); a person runs it as a CLI; installed as docker-cog it is a
// Docker CLI plugin.
package main

import (
	"io"

	"context"
	"errors"
	"fmt"
	"os"

	"github.com/moby/buildkit/solver/errdefs"

	"github.com/cog-frontend/cog-frontend/frontend"
	"github.com/spf13/cobra"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

// subcommands is filled by the init functions of this package's *_cmd.go
// files, one file per area, so areas stay independent.
var subcommands []func() *cobra.Command

func register(f func() *cobra.Command) { subcommands = append(subcommands, f) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "cog-frontend",
		Short:         "Build, bundle and publish Cog models with BuildKit",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVar(&registryHosts.AllowPlainHTTP, "insecure", false, insecureUsage)
	for _, f := range subcommands {
		root.AddCommand(f())
	}
	return root
}

func main() {
	// Every mode builds with this binary's frontend: record its version in
	// the image's org.cogfrontend.version label.
	frontend.Version = version
	stopProfile := startCPUProfile()
	var sigs interrupts
	ctx, stop := sigs.notify(context.Background())
	defer stop()
	cmd, err := newRootCmd().ExecuteContextC(ctx)
	stopProfile()
	if err != nil {
		if sig := sigs.signal(); sig != 0 && !gatewayMode {
			os.Exit(reportInterrupted(os.Stderr, cmd, sig))
		}
		if !errors.Is(err, errFindings) { // check printed its findings
			printError(os.Stderr, err)
		}
		os.Exit(1)
	}
}

// printError prints err and, for a build error, the cog.yaml or predict.py
// lines it points at, the way buildx shows them, so every route shows where
// a failure comes from. In gateway mode BuildKit gets the error itself and
// the sources would only repeat in the build log.
func printError(w io.Writer, err error) {
	fmt.Fprintln(w, "error:", err)
	if gatewayMode {
		return
	}
	for _, src := range errdefs.Sources(err) {
		fmt.Fprintln(w)
		_ = src.Print(w)
	}
}
