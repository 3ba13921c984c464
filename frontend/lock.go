package frontend

import (
	"github.com/cog-frontend/cog-frontend/config"
	"github.com/pkg/errors"
)

// checkLock parses weights.lock and refuses to build when it does not match
// cog.yaml (spec weights-v1 §10: building with drift is an error that says
// which weight and what to run). It returns the lock projection: the locked
// entries of cog.yaml's weights, in cog.yaml order; nil when cog.yaml has no
// weights and there is no lock.
func checkLock(cfg *config.Config, files *buildFiles) (*config.Lock, error) {
	if files.lock == nil {
		if len(cfg.Weights) == 0 {
			return nil, nil
		}
		return nil, &config.Error{Pos: cfg.Source["weights"], Path: "weights",
			Msg: "cog.yaml declares managed weights but there is no " + files.lockName +
				" next to it; run `cog-frontend weights import` in the project directory and build again"}
	}
	lock, err := parseLock(files.lockName, files.lock)
	if err != nil {
		return nil, err
	}
	if err := drift(cfg, lock); err != nil {
		return nil, err
	}
	return projectLock(cfg, lock)
}

// projectLock orders the lock's entries like cog.yaml's weights. After the
// drift check every configured weight has exactly one entry.
func projectLock(cfg *config.Config, lock *config.Lock) (*config.Lock, error) {
	byName := make(map[string]config.LockWeight, len(lock.Weights))
	for _, w := range lock.Weights {
		byName[w.Name] = w
	}
	out := &config.Lock{Version: lock.Version, EnvelopeFormat: lock.EnvelopeFormat}
	for _, w := range cfg.Weights {
		lw, ok := byName[w.Name]
		if !ok {
			return nil, errors.Errorf("weights.lock has no entry for weight %q; run `cog-frontend weights import %s`", w.Name, w.Name)
		}
		out.Weights = append(out.Weights, lw)
	}
	return out, nil
}
