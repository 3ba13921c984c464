package frontend

import (
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/moby/buildkit/solver/errdefs"
)

const weightsCogYAML = `
build:
  python_version: "3.11"
model: registry.example.com/acct/tiny
run: predict.py:Predictor
weights:
  - name: tiny
    target: /src/weights/tiny
    source:
      uri: weights/tiny
`

// lockFor returns weights.lock bytes for one weight named tiny at target,
// written by the config package itself so the test follows its format.
func lockFor(t *testing.T, target string) []byte {
	t.Helper()
	const (
		hexA = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		hexB = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
		hexC = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
		hexD = "sha256:4444444444444444444444444444444444444444444444444444444444444444"
		hexE = "sha256:5555555555555555555555555555555555555555555555555555555555555555"
	)
	l := &config.Lock{Version: 1, EnvelopeFormat: "sha256:ce2d53f8dd962ace393450e0abadbe227304897be87753a503b61f9c8525726e",
		Weights: []config.LockWeight{{
			Name: "tiny", Target: target,
			Sources:    []config.LockSource{{URI: "file://./weights/tiny", Fingerprint: hexA, Include: []string{}, Exclude: []string{}}},
			ImportedAt: "2026-06-12T16:41:25.807184Z", Digest: hexB, SetDigest: hexC,
			Size: 10, SizeCompressed: 30,
			Files:  []config.LockFile{{Path: "w.safetensors", Size: 10, Digest: hexD, Layer: hexE}},
			Layers: []config.LockLayer{{Digest: hexE, MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Size: 30, SizeUncompressed: 10}},
		}}}
	dt, err := config.MarshalLock(l)
	if err != nil {
		t.Fatal(err)
	}
	return dt
}

func TestLockProjectionWhenLockMatches(t *testing.T) {
	cfg, _, _, err := parse(t, weightsCogYAML)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := checkLock(cfg, &buildFiles{lockName: "weights.lock", lock: lockFor(t, "/src/weights/tiny")})
	if err != nil {
		t.Fatal(err)
	}
	if len(lock.Weights) != 1 || lock.Weights[0].Name != "tiny" || !strings.HasPrefix(lock.Weights[0].SetDigest, "sha256:3333") {
		t.Errorf("projection = %+v", lock)
	}
}

func TestMissingLockIsDriftPointingAtTheWeight(t *testing.T) {
	cfg, _, smap, err := parse(t, weightsCogYAML)
	if err != nil {
		t.Fatal(err)
	}
	_, err = checkLock(cfg, &buildFiles{lockName: "weights.lock"})
	if err == nil {
		t.Fatal("built managed weights without a weights.lock")
	}
	for _, want := range []string{"no weights.lock", `"tiny"`, "cog-frontend weights import tiny"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	srcs := errdefs.Sources(withConfigSource(err, smap))
	if len(srcs) != 1 || srcs[0].Ranges[0].Start.Line != 6 {
		t.Errorf("sources = %v, want the weight's line (6)", srcs)
	}
}

func TestChangedTargetIsDrift(t *testing.T) {
	cfg, _, _, err := parse(t, weightsCogYAML)
	if err != nil {
		t.Fatal(err)
	}
	_, err = checkLock(cfg, &buildFiles{lockName: "weights.lock", lock: lockFor(t, "/src/weights/old")})
	if err == nil || !strings.Contains(err.Error(), "/src/weights/old") || !strings.Contains(err.Error(), "weights import tiny") {
		t.Errorf("error = %v, want the changed target and the command to run", err)
	}
}

func TestOrphanedLockEntryIsDrift(t *testing.T) {
	cfg, _, _, err := parse(t, "build:\n  python_version: \"3.11\"\nrun: predict.py:Predictor\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = checkLock(cfg, &buildFiles{lockName: "weights.lock", lock: lockFor(t, "/src/weights/tiny")})
	if err == nil || !strings.Contains(err.Error(), "no longer in cog.yaml") {
		t.Errorf("error = %v, want the orphaned weight reported", err)
	}
}

func TestLockPackedDifferentlyIsRefused(t *testing.T) {
	cfg, _, _, err := parse(t, weightsCogYAML)
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(string(lockFor(t, "/src/weights/tiny")), "sha256:ce2d53f8", "sha256:00000000", 1)
	_, err = checkLock(cfg, &buildFiles{lockName: "weights.lock", lock: []byte(other)})
	if err == nil || !strings.Contains(err.Error(), "envelopeFormat sha256:00000000") {
		t.Errorf("error = %v, want the foreign envelopeFormat named", err)
	}
}

func TestNoWeightsNoLockIsFine(t *testing.T) {
	cfg, _, _, err := parse(t, "build:\n  python_version: \"3.11\"\nrun: predict.py:Predictor\n")
	if err != nil {
		t.Fatal(err)
	}
	if lock, err := checkLock(cfg, &buildFiles{lockName: "weights.lock"}); err != nil || lock != nil {
		t.Errorf("got %v, %v", lock, err)
	}
}
