package main

import (
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/exporter"
	"github.com/cog-frontend/cog-frontend/frontend"
	"github.com/cog-frontend/cog-frontend/wire"
)

func TestCheckBuiltComparesTheFrontendsLockWithTheWeights(t *testing.T) {
	lock := []byte(`{"version":1,"weights":[{"name":"a","setDigest":"sha256:aa"}]}`)
	bundle := map[string][]byte{frontend.MetaFormat: []byte(wire.FormatBundle), frontend.MetaWeightsLock: lock}
	a := exporter.Weight{Name: "a", SetDigest: "sha256:aa"}
	if err := checkBuilt(bundle, []exporter.Weight{a}); err != nil {
		t.Errorf("matching lock: %v", err)
	}
	changed := exporter.Weight{Name: "a", SetDigest: "sha256:bb"}
	if err := checkBuilt(bundle, []exporter.Weight{changed}); err == nil || !strings.Contains(err.Error(), "changed during the build") {
		t.Errorf("changed lock: %v", err)
	}
	if err := checkBuilt(bundle, nil); err == nil {
		t.Error("weights missing from the bundle accepted")
	}
	standalone := map[string][]byte{frontend.MetaFormat: []byte(wire.FormatStandalone)}
	if err := checkBuilt(standalone, nil); err != nil {
		t.Errorf("standalone: %v", err)
	}
	if err := checkBuilt(standalone, []exporter.Weight{a}); err == nil {
		t.Error("weights attached to a standalone image")
	}
	if err := checkBuilt(map[string][]byte{frontend.MetaFormat: []byte(wire.FormatBundle), frontend.MetaWeightsLock: []byte("{")}, nil); err == nil {
		t.Error("bad metadata accepted")
	}
}
