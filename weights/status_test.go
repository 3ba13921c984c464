package weights

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/wire"
)

// testTag is a stand-in for exporter.WeightTag (weights may not import the
// exporter); the comparison only needs a deterministic name per weight.
func testTag(name, setDigest string) string {
	return "cog-weight." + name + "." + strings.TrimPrefix(setDigest, "sha256:")[:12]
}

// lockEntry builds a self-consistent lock entry whose layers each hold one
// file with the given content; the layer bytes are the content itself
// (enough for a registry, which checks only digests), so tests can push
// them.
func lockEntry(t *testing.T, name string, contents ...string) (config.LockWeight, map[string][]byte) {
	t.Helper()
	blobs := map[string][]byte{}
	e := config.LockWeight{Name: name, Target: "/src/weights/" + name, SetDigest: pack.Digest([]byte(name + strings.Join(contents, "|")))}
	for i, c := range contents {
		d := pack.Digest([]byte(c))
		blobs[d] = []byte(c)
		e.Files = append(e.Files, config.LockFile{Path: fmt.Sprintf("f%d", i), Size: int64(len(c)), Digest: pack.Digest([]byte("file" + c)), Layer: d})
		e.Layers = append(e.Layers, config.LockLayer{Digest: d, MediaType: wire.MediaTypeLayerTar, Size: int64(len(c)), SizeUncompressed: int64(len(c)) + 1024})
	}
	e = canonicalLockWeight(e)
	cfg, manifest, err := entryBytes(e)
	if err != nil {
		t.Fatal(err)
	}
	blobs[pack.Digest(cfg)] = cfg
	e.Digest = pack.Digest(manifest)
	return e, blobs
}

func TestRegistryWantedListsEveryObjectOnce(t *testing.T) {
	a, ab := lockEntry(t, "a", "shared", "only-a")
	b, bb := lockEntry(t, "b", "shared", "only-b-1", "only-b-2")
	lock := &config.Lock{Version: 1, Weights: []config.LockWeight{a, b}}
	w := RegistryWanted(lock, testTag)

	// Every layer and both config blobs, the shared layer once.
	var want []string
	for d := range ab {
		want = append(want, d)
	}
	for d := range bb {
		if _, dup := ab[d]; !dup {
			want = append(want, d)
		}
	}
	slices.Sort(want)
	if !slices.Equal(w.Blobs, want) {
		t.Errorf("blobs:\n got %v\nwant %v", w.Blobs, want)
	}
	if len(w.Blobs) != 6 { // shared, only-a, only-b-1, only-b-2, two configs
		t.Errorf("got %d blobs, want 6", len(w.Blobs))
	}
	wantM := []string{a.Digest, b.Digest}
	slices.Sort(wantM)
	if !slices.Equal(w.Manifests, wantM) {
		t.Errorf("manifests: got %v want %v", w.Manifests, wantM)
	}
	wantT := []string{testTag("a", a.SetDigest), testTag("b", b.SetDigest)}
	if !slices.Equal(w.Tags, wantT) {
		t.Errorf("tags: got %v want %v", w.Tags, wantT)
	}
	if RegistryWanted(&config.Lock{Version: 1}, testTag).Empty() != true {
		t.Error("an empty lock wants something")
	}
}

func TestCompareRegistry(t *testing.T) {
	a, _ := lockEntry(t, "a", "l1", "layer-two", "layer-three!")
	lock := &config.Lock{Version: 1, Weights: []config.LockWeight{a}}
	cfgDigest, cfgSize, err := lockWeightConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	tag := testTag("a", a.SetDigest)
	d1, d2, d3 := pack.Digest([]byte("l1")), pack.Digest([]byte("layer-two")), pack.Digest([]byte("layer-three!"))

	cases := []struct {
		name string
		st   RegistryState
		want WeightRegistryReport
	}{{
		name: "nothing pushed",
		st:   RegistryState{},
		want: WeightRegistryReport{LayersMissing: 3, BytesToUpload: 2 + 9 + 12 + cfgSize, MissingLayers: sorted(d1, d2, d3)},
	}, {
		name: "one layer and the config",
		st:   RegistryState{Blobs: map[string]bool{d2: true, cfgDigest: true}},
		want: WeightRegistryReport{LayersPresent: 1, LayersMissing: 2, BytesPresent: 9, BytesToUpload: 2 + 12, ConfigPresent: true, MissingLayers: sorted(d1, d3)},
	}, {
		name: "all blobs, manifest by digest, tag elsewhere",
		st: RegistryState{Blobs: map[string]bool{d1: true, d2: true, d3: true, cfgDigest: true},
			Manifests: map[string]bool{a.Digest: true}, Tags: map[string]string{tag: "sha256:other"}},
		want: WeightRegistryReport{LayersPresent: 3, BytesPresent: 23, ConfigPresent: true, ManifestPresent: true, TagDigest: "sha256:other", MissingLayers: []string{}},
	}, {
		name: "complete",
		st: RegistryState{Blobs: map[string]bool{d1: true, d2: true, d3: true, cfgDigest: true},
			Manifests: map[string]bool{a.Digest: true}, Tags: map[string]string{tag: a.Digest}},
		want: WeightRegistryReport{LayersPresent: 3, BytesPresent: 23, ConfigPresent: true, ManifestPresent: true, TagPresent: true, TagDigest: a.Digest, MissingLayers: []string{}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := CompareRegistry(lock, testTag, c.st)
			if len(got) != 1 {
				t.Fatalf("got %d reports", len(got))
			}
			w := c.want
			w.Name, w.Manifest, w.Tag, w.Config, w.Layers = "a", a.Digest, tag, cfgDigest, 3
			if fmt.Sprintf("%+v", got[0]) != fmt.Sprintf("%+v", w) {
				t.Errorf("\n got %+v\nwant %+v", got[0], w)
			}
			if got[0].Complete() != (c.name == "complete") {
				t.Errorf("Complete() = %v", got[0].Complete())
			}
		})
	}
}

func TestCompareRegistryInconsistentEntry(t *testing.T) {
	a, _ := lockEntry(t, "a", "x")
	a.Files = nil // no config blob can be built
	got := CompareRegistry(&config.Lock{Version: 1, Weights: []config.LockWeight{a}}, testTag, RegistryState{})
	if got[0].Error == "" || !strings.Contains(got[0].Error, "weights import") || got[0].Config != "" {
		t.Errorf("inconsistent entry: %+v", got[0])
	}
	if got[0].LayersMissing != 1 || got[0].Complete() {
		t.Errorf("layers still compared: %+v", got[0])
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}
