package main

import (
	"fmt"
	"os"

	"github.com/cog-frontend/cog-frontend/frontend"
	"github.com/moby/buildkit/frontend/gateway/grpcclient"
	"github.com/moby/buildkit/util/appcontext"
)

// BuildKit's gateway starts a frontend image's entrypoint with these
// variables set (frontend/gateway/gateway.go) and speaks gRPC over its
// stdin/stdout; grpcclient.RunFromEnvironment reads them. Nobody running the
// CLI sets both, so their presence is what tells the two modes apart.
const (
	envSessionID       = "BUILDKIT_SESSION_ID"
	envExportedProduct = "BUILDKIT_EXPORTEDPRODUCT"
)

// startedByBuildKit reports whether BuildKit's gateway started this process.
func startedByBuildKit(getenv func(string) string) bool {
	return getenv(envSessionID) != "" && getenv(envExportedProduct) != ""
}

// runAsGatewayFrontend runs the BuildKit gateway frontend when BuildKit
// started this process, and reports whether it did. It exits the process
// with status 1 on failure: BuildKit reads the error from the gRPC return
// call, and stderr shows up in the build log.
func runAsGatewayFrontend() bool {
	if !startedByBuildKit(os.Getenv) {
		return false
	}
	frontend.Version = version
	// appcontext cancels on SIGTERM/SIGINT, which is how BuildKit stops a
	// frontend whose build was cancelled.
	if err := grpcclient.RunFromEnvironment(appcontext.Context(), frontend.Build); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	return true
}
