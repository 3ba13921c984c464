package main

import (
	"errors"
	"os"

	"github.com/cog-frontend/cog-frontend/frontend"
	"github.com/moby/buildkit/frontend/gateway/grpcclient"
	"github.com/moby/buildkit/util/appcontext"
	"github.com/spf13/cobra"
)

// gatewayCmd is the frontend image's entrypoint (`/cog-frontend gateway`):
// BuildKit starts it and speaks the gateway API over its stdin/stdout.
//
// The mode is chosen by this argument, never by sniffing the environment:
// what BuildKit puts there differs between distributions (Docker Engine's
// embedded BuildKit sets BUILDKIT_EXPORTEDPRODUCT to whatever product name
// dockerd was built with, often empty), and a binary that guessed wrong
// printed its CLI help into the gRPC stream ("bogus greeting").
func gatewayCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gateway",
		Short:  "Serve the BuildKit gateway API on stdin/stdout (BuildKit runs this as the frontend image's entrypoint)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkGatewayEnvironment(os.Getenv); err != nil {
				return err
			}
			gatewayMode = true
			frontend.Version = version
			// appcontext cancels on SIGTERM/SIGINT, which is how BuildKit
			// stops a frontend whose build was cancelled; BuildKit reads the
			// error from the gRPC return call and shows stderr in the log.
			return grpcclient.RunFromEnvironment(appcontext.Context(), frontend.Build)
		},
	}
}

func init() { register(gatewayCmd) }

// gatewayMode is set when BuildKit runs this process as the frontend.
var gatewayMode bool

// BuildKit's gateway (every version and distribution) gives a frontend
// process its session id in this variable.
const envSessionID = "BUILDKIT_SESSION_ID"

// checkGatewayEnvironment turns a person running `cog-frontend gateway` by
// hand into a clear error instead of a process waiting for gRPC on a
// terminal.
func checkGatewayEnvironment(getenv func(string) string) error {
	if getenv(envSessionID) == "" {
		return errors.New("`cog-frontend gateway` is the frontend image's entrypoint and is started by BuildKit " +
			"(" + envSessionID + " is not set); to build from a shell, run `cog-frontend build`")
	}
	return nil
}
