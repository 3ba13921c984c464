package llb

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/wire"
	bkllb "github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
)

// reorderRuns is how many shuffled variants of each fixture are built
// (seeded, so a failure reproduces).
const reorderRuns = 12

// TestDeterministicUnderReorderedInputs builds each fixture from variants
// that mean the same thing but are written in another order: every YAML
// mapping's keys shuffled (top level, build, concurrency, weight entries,
// mounts) and weights.lock's entries shuffled (the projection follows
// cog.yaml): the marshalled definition (without source map, whose bytes
// are cog.yaml's) and the image config must be identical, and with the
// source map the ops must be. Then the environment list is shuffled too:
// the image's env is sorted by key, so the definition stays the same, but
// the run.cog.config label keeps cog.yaml's order as Cog writes it, so the
// image config is compared without that label. Lists whose order means
// something stay as written: weights (weights.json lists them in cog.yaml
// order), include/exclude patterns (later ones override), run steps,
// packages.
func TestDeterministicUnderReorderedInputs(t *testing.T) {
	for _, dir := range []string{"../testdata/llb/cpu-full", "../testdata/llb/weights-bundle", "../testdata/llb/weights-standalone", "../examples/cpu-weights"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			base := loadFixture(t, dir)
			want, wantOps, wantImg := reorderDigests(t, base)
			var doc yaml.Node
			if err := yaml.Unmarshal(base.opts.ConfigData, &doc); err != nil {
				t.Fatal(err)
			}
			changed := 0
			for i := range 2 * reorderRuns {
				r := rand.New(rand.NewPCG(uint64(i), 42))
				shuffleEnv := i >= reorderRuns
				var n yaml.Node
				copyNode(&n, &doc)
				shuffleNode(r, &n, "", shuffleEnv)
				data, err := yaml.Marshal(&n)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, base.opts.ConfigData) {
					changed++
				}
				cfg, _, err := config.Parse("cog.yaml", data)
				if err != nil {
					t.Fatalf("variant %d does not parse: %v\n%s", i, err, data)
				}
				f := &fixture{dir: dir, cfg: cfg, opts: base.opts}
				f.opts.ConfigData = data
				lock := lockOf(t, dir, base)
				r.Shuffle(len(lock.Weights), func(a, b int) { lock.Weights[a], lock.Weights[b] = lock.Weights[b], lock.Weights[a] })
				if f.opts.Weights, err = WeightRefs(cfg, lock); err != nil {
					t.Fatal(err)
				}
				got, gotOps, gotImg := reorderDigests(t, f)
				wantImg := wantImg
				if shuffleEnv {
					gotImg, wantImg = imageWithoutLabel(t, f), imageWithoutLabel(t, base)
				}
				if got != want || !slices.Equal(gotOps, wantOps) || gotImg != wantImg {
					t.Fatalf("variant %d builds something else (definition %s vs %s, image %s vs %s, ops equal %v):\n%s",
						i, got, want, gotImg, wantImg, slices.Equal(gotOps, wantOps), data)
				}
			}
			if changed == 0 {
				t.Fatal("no variant differed from the fixture: nothing was reordered")
			}
		})
	}
}

// lockOf is the fixture's weights.lock, or the one its options.json
// describes, as loadFixture reads it.
func lockOf(t *testing.T, dir string, f *fixture) *config.Lock {
	t.Helper()
	if dt, err := os.ReadFile(filepath.Join(dir, "weights.lock")); err == nil {
		lock, err := config.ParseLock("weights.lock", dt)
		if err != nil {
			t.Fatal(err)
		}
		return lock
	}
	lock := &config.Lock{Version: 1}
	for _, w := range f.opts.Weights {
		lock.Weights = append(lock.Weights, config.LockWeight{Name: w.Name, Target: w.Target, SetDigest: w.SetDigest})
	}
	return lock
}

// reorderDigests builds f and returns the digest of its marshalled
// definition without cog.yaml's source map, the digests of its ops with
// it, and the digest of the image config.
func reorderDigests(t *testing.T, f *fixture) (digest.Digest, []digest.Digest, digest.Digest) {
	t.Helper()
	res := f.build(t)
	def, err := res.State.Marshal(context.Background(), bkllb.Platform(f.opts.Platform))
	if err != nil {
		t.Fatal(err)
	}
	var ops []digest.Digest
	for _, dt := range def.Def {
		ops = append(ops, digest.FromBytes(dt))
	}
	noSource := *f
	noSource.opts.ConfigData = nil
	res2 := noSource.build(t)
	def2, err := res2.State.Marshal(context.Background(), bkllb.Platform(f.opts.Platform))
	if err != nil {
		t.Fatal(err)
	}
	dt, err := proto.MarshalOptions{Deterministic: true}.Marshal(def2.ToPB())
	if err != nil {
		t.Fatal(err)
	}
	img, err := json.Marshal(res.Image)
	if err != nil {
		t.Fatal(err)
	}
	return digest.FromBytes(dt), ops, digest.FromBytes(img)
}

// imageWithoutLabel is the digest of f's image config without the
// run.cog.config label.
func imageWithoutLabel(t *testing.T, f *fixture) digest.Digest {
	t.Helper()
	img := f.build(t).Image
	labels := maps.Clone(img.Config.Labels)
	delete(labels, wire.LabelConfig)
	img.Config.Labels = labels
	dt, err := json.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	return digest.FromBytes(dt)
}

func copyNode(dst, src *yaml.Node) {
	*dst = *src
	dst.Content = make([]*yaml.Node, len(src.Content))
	for i, c := range src.Content {
		dst.Content[i] = &yaml.Node{}
		copyNode(dst.Content[i], c)
	}
}

// shuffleNode shuffles the key/value pairs of every mapping under n, and
// with env the items of the environment list. key is n's key in its parent.
func shuffleNode(r *rand.Rand, n *yaml.Node, key string, env bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			shuffleNode(r, c, "", env)
		}
	case yaml.MappingNode:
		pairs := len(n.Content) / 2
		r.Shuffle(pairs, func(a, b int) {
			n.Content[2*a], n.Content[2*b] = n.Content[2*b], n.Content[2*a]
			n.Content[2*a+1], n.Content[2*b+1] = n.Content[2*b+1], n.Content[2*a+1]
		})
		for i := 0; i+1 < len(n.Content); i += 2 {
			shuffleNode(r, n.Content[i+1], n.Content[i].Value, env)
		}
	case yaml.SequenceNode:
		if env && key == "environment" {
			r.Shuffle(len(n.Content), func(a, b int) { n.Content[a], n.Content[b] = n.Content[b], n.Content[a] })
		}
		for _, c := range n.Content {
			shuffleNode(r, c, "", env)
		}
	}
}
