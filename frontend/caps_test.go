package frontend

import (
	"strings"
	"testing"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"
	apicapspb "github.com/moby/buildkit/util/apicaps/pb"
)

// capsWithout returns the full capability set of a list minus the named ones,
// the way an older BuildKit reports a shorter list.
func capsWithout(l *apicaps.CapList, drop ...apicaps.CapID) apicaps.CapSet {
	var kept []*apicapspb.APICap
	for _, c := range l.All() {
		keep := true
		for _, d := range drop {
			if apicaps.CapID(c.ID) == d {
				keep = false
			}
		}
		if keep {
			kept = append(kept, c)
		}
	}
	return l.CapSet(kept)
}

func TestCheckCapsPassesOnACurrentBuildKit(t *testing.T) {
	opts := gwclient.BuildOpts{Caps: gwpb.Caps.CapSet(gwpb.Caps.All()), LLBCaps: pb.Caps.CapSet(pb.Caps.All())}
	if err := checkCaps(opts); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCapsNamesWhatAnOlderBuildKitLacks(t *testing.T) {
	opts := gwclient.BuildOpts{
		Product: "moby",
		Caps:    gwpb.Caps.CapSet(gwpb.Caps.All()),
		LLBCaps: capsWithout(&pb.Caps, pb.CapMergeOp),
	}
	err := checkCaps(opts)
	if err == nil {
		t.Fatal("a BuildKit without merge ops passed")
	}
	for _, want := range []string{`"mergeop"`, "adding weight layers", "BuildKit " + OldestBuildKit + " and later", "moby lacks"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	opts.Caps = capsWithout(&gwpb.Caps, gwpb.CapReadFile)
	if err := checkCaps(opts); err == nil || !strings.Contains(err.Error(), `"readfile"`) || !strings.Contains(err.Error(), `"mergeop"`) {
		t.Errorf("want both missing capabilities named, got %v", err)
	}
}
