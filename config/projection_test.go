package config

import (
	"errors"
	"strings"
	"testing"
)

func TestProjectLockFollowsCogYAMLOrder(t *testing.T) {
	cfg := &Config{Weights: []Weight{{Name: "b", Target: "/b"}, {Name: "a", Target: "/a"}}}
	lock := &Lock{Version: 1, EnvelopeFormat: "sha256:e", Weights: []LockWeight{{Name: "a", Target: "/a"}, {Name: "b", Target: "/b"}}}
	got, err := ProjectLock(cfg, lock, "weights.lock", "sha256:e")
	if err != nil {
		t.Fatal(err)
	}
	if got.Weights[0].Name != "b" || got.Weights[1].Name != "a" || got.EnvelopeFormat != "sha256:e" {
		t.Errorf("projection = %+v", got)
	}
}

func TestProjectLockReportsEveryMismatch(t *testing.T) {
	cfg := &Config{Weights: []Weight{{Name: "c", Target: "/c"}}, Source: map[string]Position{"weights[0]": {Line: 7, Column: 5}}}
	lock := &Lock{Version: 1, EnvelopeFormat: "sha256:old", Weights: []LockWeight{{Name: "a", Target: "/a"}}}
	_, err := ProjectLock(cfg, lock, "weights.lock", "sha256:new")
	var m *LockMismatch
	if !errors.As(err, &m) || len(m.Drift) != 2 || m.Envelope != "sha256:old" {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{"weights.lock does not match cog.yaml", "envelopeFormat sha256:old, this tool packs sha256:new", `weight "c" is in cog.yaml but not in weights.lock`, `weight "a" is in weights.lock but no longer in cog.yaml`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	var pe *Error
	if !errors.As(m.Positioned(), &pe) || pe.Pos.Line != 7 {
		t.Errorf("positioned: %v", m.Positioned())
	}
	// Packing is not checked when the caller does not care.
	lock.Weights = []LockWeight{{Name: "c", Target: "/c"}}
	if _, err := ProjectLock(cfg, lock, "weights.lock", ""); err != nil {
		t.Errorf("envelope not asked for: %v", err)
	}
}

func TestProjectLockWithoutALock(t *testing.T) {
	if p, err := ProjectLock(&Config{}, nil, "weights.lock", "x"); p != nil || err != nil {
		t.Errorf("no weights, no lock: %v, %v", p, err)
	}
	_, err := ProjectLock(&Config{Weights: []Weight{{Name: "w"}}}, nil, "weights.lock", "x")
	var m *LockMismatch
	if !errors.As(err, &m) || !m.Missing || !strings.Contains(err.Error(), "no weights.lock next to it") {
		t.Errorf("managed weights, no lock: %v", err)
	}
}
