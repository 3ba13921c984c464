package frontend

import (
	"fmt"
	"strings"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"
)

// OldestBuildKit is the oldest BuildKit the frontend is tested on (Docker
// Engine 28.x embeds it); docs/frontend.md says the same.
const OldestBuildKit = "v0.25"

// requiredCap is a BuildKit capability the frontend cannot build without,
// and what needs it.
type requiredCap struct {
	id  apicaps.CapID
	use string
}

// Capabilities of the gateway API and of LLB that every build uses. Each
// is reported by the gateway (BuildOpts), so an older BuildKit is named
// with what it lacks instead of failing somewhere inside the solve.
var (
	requiredGatewayCaps = []requiredCap{
		{gwpb.CapReadFile, "reading cog.yaml, weights.lock and requirements from the build context"},
		{gwpb.CapReturnMap, "returning one image per platform"},
	}
	requiredLLBCaps = []requiredCap{
		{pb.CapFileBase, "copying the project and weights (file operations)"},
		{pb.CapExecMountCache, "the apt and uv cache mounts"},
		{pb.CapExecMountCacheSharing, "the apt and uv cache mounts"},
		{pb.CapExecMetaNetwork, "running the schema step without network"},
		{pb.CapMergeOp, "adding weight layers (merge)"},
	}
)

// checkCaps fails with every capability the BuildKit running the build
// lacks, each with what needs it and the BuildKit that has it.
func checkCaps(opts gwclient.BuildOpts) error {
	var missing []string
	check := func(set apicaps.CapSet, caps []requiredCap) {
		for _, c := range caps {
			if err := set.Supports(c.id); err != nil {
				missing = append(missing, fmt.Sprintf("%q (needed for %s)", c.id, c.use))
			}
		}
	}
	check(opts.Caps, requiredGatewayCaps)
	check(opts.LLBCaps, requiredLLBCaps)
	if len(missing) == 0 {
		return nil
	}
	product := opts.Product
	if product == "" {
		product = "this BuildKit"
	}
	return fmt.Errorf("%s lacks BuildKit capabilities cog-frontend needs: %s; "+
		"they are in BuildKit %s and later (Docker Engine 28.x and later): upgrade the builder, or point buildx at a newer one (docker buildx create --driver docker-container)",
		product, strings.Join(missing, ", "), OldestBuildKit)
}
