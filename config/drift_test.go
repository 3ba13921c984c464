package config

import (
	"strings"
	"testing"
)

func driftConfig(t *testing.T, weights string) *Config {
	t.Helper()
	cfg, _, err := Parse("cog.yaml", []byte(model+"weights:\n"+weights))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func lockFor(name, target, uri string, include, exclude []string) LockWeight {
	return LockWeight{Name: name, Target: target, Sources: []LockSource{{URI: uri, Include: include, Exclude: exclude}}}
}

func TestDriftNoneWhenInSync(t *testing.T) {
	cfg := driftConfig(t, "  - name: a\n    target: /w/a\n    source: {uri: weights/a, exclude: [onnx/]}\n"+
		"  - name: b\n    target: /w/b\n    source: {uri: \"hf://org/repo@main\"}\n")
	lock := &Lock{Weights: []LockWeight{
		lockFor("b", "/w/b", "hf://org/repo", []string{}, []string{}), // order and [] vs nil do not matter
		lockFor("a", "/w/a", "file://./weights/a", nil, []string{"onnx/"}),
	}}
	if d := Drift(cfg, lock); len(d) != 0 {
		t.Errorf("Drift = %v", d)
	}
}

func TestDriftKinds(t *testing.T) {
	cfg := driftConfig(t,
		"  - name: new\n    target: /w/new\n    source: {uri: w/new}\n"+
			"  - name: moved\n    target: /w/moved2\n    source: {uri: w/moved, include: [\"*.bin\"]}\n"+
			"  - name: same\n    target: /w/same\n    source: {uri: w/same}\n")
	lock := &Lock{Weights: []LockWeight{
		lockFor("gone", "/w/gone", "file://./w/gone", nil, nil),
		lockFor("moved", "/w/moved", "file://./w/other", nil, []string{"x"}),
		lockFor("same", "/w/same", "file://./w/same", nil, nil),
	}}
	d := Drift(cfg, lock)
	if len(d) != 3 {
		t.Fatalf("Drift = %v", d)
	}
	if d[0].Kind != DriftPending || d[0].Name != "new" || d[0].Pos.Line != 3 ||
		!strings.Contains(d[0].Message, `weight "new" is in cog.yaml but not in weights.lock; run: cog-frontend weights import new`) {
		t.Errorf("pending = %+v", d[0])
	}
	wantChanges := []string{
		"target: /w/moved -> /w/moved2",
		"source.uri: file://./w/other -> file://./w/moved",
		"source.include: [] -> [*.bin]",
		"source.exclude: [x] -> []",
	}
	if d[1].Kind != DriftConfigChanged || d[1].Name != "moved" || strings.Join(d[1].Changes, "|") != strings.Join(wantChanges, "|") ||
		!strings.HasSuffix(d[1].Message, "run: cog-frontend weights import moved") {
		t.Errorf("config-changed = %+v", d[1])
	}
	if d[2].Kind != DriftOrphaned || d[2].Name != "gone" || !strings.Contains(d[2].Message, `weight "gone" is in weights.lock but no longer in cog.yaml`) {
		t.Errorf("orphaned = %+v", d[2])
	}
}

func TestDriftSourceCount(t *testing.T) {
	cfg := driftConfig(t, "  - name: a\n    target: /w/a\n    source: [{uri: w/a}, {uri: w/b}]\n")
	d := Drift(cfg, &Lock{Weights: []LockWeight{lockFor("a", "/w/a", "file://./w/a", nil, nil)}})
	if len(d) != 1 || d[0].Changes[0] != "number of sources: 1 -> 2" {
		t.Errorf("Drift = %+v", d)
	}
	if d := Drift(cfg, nil); len(d) != 1 || d[0].Kind != DriftPending {
		t.Errorf("Drift(nil lock) = %+v", d)
	}
}
