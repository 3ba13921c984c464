package config

import (
	"errors"
	"strings"
)

// LockMismatch is every way a weights.lock fails to describe cog.yaml
// (weights-v1 §10). Building or publishing with any of them is an error
// that says which weight and what to run.
type LockMismatch struct {
	LockName string
	// Missing: cog.yaml declares managed weights and there is no lock.
	Missing bool
	// Envelope, when set, is the lock's envelopeFormat, which is not Want.
	Envelope, Want string
	Drift          []DriftItem
}

// general lists the problems of the whole lock, before the drift items.
func (e *LockMismatch) general() []string {
	var out []string
	if e.Missing {
		out = append(out, "cog.yaml declares managed weights but there is no "+e.LockName+" next to it; run: cog-frontend weights import")
	}
	if e.Envelope != "" {
		out = append(out, e.LockName+" was packed with envelopeFormat "+e.Envelope+", this tool packs "+e.Want+"; run: cog-frontend weights import")
	}
	return out
}

func (e *LockMismatch) Error() string {
	lines := e.general()
	for _, d := range e.Drift {
		lines = append(lines, d.Message)
	}
	return e.LockName + " does not match cog.yaml:\n  " + strings.Join(lines, "\n  ")
}

// Positioned is the mismatch as one error per problem, drift items as
// *Error at their weight in cog.yaml, so buildx shows the lines.
func (e *LockMismatch) Positioned() error {
	var errs []error
	for _, l := range e.general() {
		errs = append(errs, errors.New(l))
	}
	for _, d := range e.Drift {
		errs = append(errs, &Error{Pos: d.Pos, Path: "weights", Msg: d.Message})
	}
	return errors.Join(errs...)
}

// ProjectLock checks lock against cog.yaml and returns its projection: the
// entries of cfg's weights, in cog.yaml order, under the lock's version and
// envelopeFormat. A nil lock means there is no lock file; with no weights in
// cog.yaml and no lock the projection is nil. envelope is the envelopeFormat
// the caller packs (wire.EnvelopeFormat); "" skips that check, for callers
// to whom packing does not matter. Any disagreement is a *LockMismatch.
func ProjectLock(cfg *Config, lock *Lock, lockName, envelope string) (*Lock, error) {
	m := &LockMismatch{LockName: lockName, Drift: Drift(cfg, lock)}
	if lock == nil {
		m.Missing = len(cfg.Weights) > 0
	} else if envelope != "" && len(lock.Weights) > 0 && lock.EnvelopeFormat != envelope {
		m.Envelope, m.Want = lock.EnvelopeFormat, envelope
	}
	if m.Missing || m.Envelope != "" || len(m.Drift) > 0 {
		return nil, m
	}
	if lock == nil {
		return nil, nil
	}
	out := &Lock{Version: lock.Version, EnvelopeFormat: lock.EnvelopeFormat, Weights: make([]LockWeight, 0, len(cfg.Weights))}
	for _, w := range cfg.Weights {
		lw, _ := lock.Entry(w.Name) // no drift: every weight has exactly one entry
		out.Weights = append(out.Weights, lw)
	}
	return out, nil
}

// Entry is the lock's entry for the weight called name.
func (l *Lock) Entry(name string) (LockWeight, bool) {
	if l != nil {
		for _, w := range l.Weights {
			if w.Name == name {
				return w, true
			}
		}
	}
	return LockWeight{}, false
}
