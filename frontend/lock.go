package frontend

import (
	"errors"
	"fmt"

	"github.com/cog-frontend/cog-frontend/config"
)

// checkLock parses weights.lock and refuses to build when it does not match
// cog.yaml (weights-v1 §10: building with drift is an error that says which
// weight and what to run). It returns the lock projection: the locked
// entries of cog.yaml's weights, in cog.yaml order; nil when cog.yaml has no
// weights and there is no lock.
func checkLock(cfg *config.Config, files *buildFiles) (*config.Lock, error) {
	var lock *config.Lock
	if files.lock != nil {
		var err error
		if lock, err = config.ParseLock(files.lockName, files.lock); err != nil {
			return nil, err
		}
	}
	if err := driftError(config.Drift(cfg, lock), files.lock == nil, files.lockName); err != nil {
		return nil, err
	}
	if lock == nil {
		return nil, nil
	}
	return projectLock(cfg, lock)
}

// driftError turns drift items into one error, each item a *config.Error
// at its weight in cog.yaml so buildx shows the lines.
func driftError(items []config.DriftItem, noLock bool, lockName string) error {
	if len(items) == 0 {
		return nil
	}
	errs := make([]error, 0, len(items)+1)
	if noLock {
		errs = append(errs, fmt.Errorf("cog.yaml declares managed weights but there is no %s next to it", lockName))
	}
	for _, d := range items {
		errs = append(errs, &config.Error{Pos: d.Pos, Path: "weights", Msg: d.Message})
	}
	return errors.Join(errs...)
}

// projectLock orders the lock's entries like cog.yaml's weights. After the
// drift check every configured weight has exactly one entry.
func projectLock(cfg *config.Config, lock *config.Lock) (*config.Lock, error) {
	byName := make(map[string]config.LockWeight, len(lock.Weights))
	for _, w := range lock.Weights {
		byName[w.Name] = w
	}
	out := &config.Lock{Version: lock.Version, EnvelopeFormat: lock.EnvelopeFormat, Weights: []config.LockWeight{}}
	for _, w := range cfg.Weights {
		lw, ok := byName[w.Name]
		if !ok {
			return nil, fmt.Errorf("weights.lock has no entry for weight %q; run: cog-frontend weights import %s", w.Name, w.Name)
		}
		out.Weights = append(out.Weights, lw)
	}
	return out, nil
}
