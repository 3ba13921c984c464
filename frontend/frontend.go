package frontend

import (
	"context"
	"errors"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"
)

// Build is the gateway BuildFunc: grpcclient.RunFromEnvironment runs it when
// BuildKit starts the frontend image, and `cog-frontend build` passes it to
// client.Build to run it in-process.
func Build(ctx context.Context, c gwclient.Client) (*gwclient.Result, error) {
	if _, err := ParseOptions(c.BuildOpts().Opts); err != nil {
		return nil, err
	}
	return nil, errors.New("cog-frontend: frontend.Build is being written (contract only)")
}
