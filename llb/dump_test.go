package llb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	bkllb "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/proto"
)

// dumpOp is one LLB vertex in the golden dump: the op itself (encoding/json
// over BuildKit's pb types, the same form `buildctl debug dump-llb` prints),
// its display name, generated file contents in readable form and the
// cog.yaml locations attached to it.
type dumpOp struct {
	Digest    digest.Digest     `json:"digest"`
	Name      string            `json:"name,omitempty"`
	Op        *pb.Op            `json:"op"`
	Files     map[string]string `json:"files,omitempty"`
	Locations []string          `json:"locations,omitempty"`
}

// maxInlineFile is the size up to which generated files appear verbatim in
// dumps; larger ones (the schema script) appear as their digest so a golden
// file stays reviewable.
const maxInlineFile = 1024

// dumpState marshals st and renders it as indented JSON, ops in the order
// BuildKit marshalled them (itself deterministic, which the determinism
// test checks). Digests are of the marshalled op bytes, as BuildKit keys
// them.
func dumpState(t *testing.T, st bkllb.State, p ocispec.Platform) []byte {
	t.Helper()
	def, err := st.Marshal(context.Background(), bkllb.Platform(p))
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var ops []dumpOp
	for _, dt := range def.Def {
		var op pb.Op
		if err := proto.Unmarshal(dt, &op); err != nil {
			t.Fatalf("unmarshal op: %v", err)
		}
		dgst := digest.FromBytes(dt)
		d := dumpOp{Digest: dgst, Op: &op}
		if md, ok := def.Metadata[dgst]; ok {
			d.Name = md.Description["llb.customname"]
		}
		if f := op.GetFile(); f != nil {
			for _, a := range f.Actions {
				mk := a.GetMkfile()
				if mk == nil {
					continue
				}
				if d.Files == nil {
					d.Files = map[string]string{}
				}
				if len(mk.Data) <= maxInlineFile {
					d.Files[mk.Path] = string(mk.Data)
				} else {
					d.Files[mk.Path] = fmt.Sprintf("sha256:%x (%d bytes)", sha256.Sum256(mk.Data), len(mk.Data))
				}
				mk.Data = nil
			}
		}
		if def.Source != nil {
			if locs, ok := def.Source.Locations[dgst.String()]; ok {
				for _, l := range locs.Locations {
					name := def.Source.Infos[l.SourceIndex].Filename
					for _, r := range l.Ranges {
						d.Locations = append(d.Locations, fmt.Sprintf("%s:%d:%d", name, r.Start.Line, r.Start.Character))
					}
				}
				sort.Strings(d.Locations)
			}
		}
		ops = append(ops, d)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ops); err != nil {
		t.Fatalf("encode dump: %v", err)
	}
	return buf.Bytes()
}

// execs returns the exec ops of st in marshal order, with their names.
func execs(t *testing.T, st bkllb.State) []dumpOp {
	t.Helper()
	var out []dumpOp
	var all []dumpOp
	if err := json.Unmarshal(dumpState(t, st, ocispec.Platform{OS: "linux", Architecture: "amd64"}), &all); err != nil {
		t.Fatal(err)
	}
	for _, o := range all {
		if o.Op.GetExec() != nil {
			out = append(out, o)
		}
	}
	return out
}

// findExec returns the exec op whose name starts with prefix.
func findExec(t *testing.T, st bkllb.State, prefix string) *pb.ExecOp {
	t.Helper()
	var names []string
	for _, o := range execs(t, st) {
		if strings.HasPrefix(o.Name, prefix) {
			return o.Op.GetExec()
		}
		names = append(names, o.Name)
	}
	t.Fatalf("no exec step named %q; steps: %q", prefix, names)
	return nil
}
