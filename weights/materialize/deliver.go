package materialize

import (
	"context"
	"fmt"

	"github.com/cog-frontend/cog-frontend/internal/nospace"
	"github.com/cog-frontend/cog-frontend/weights/pull"
)

// Outcome of delivering one weight.
type Outcome string

// Outcomes.
const (
	OutcomeUnchanged Outcome = "unchanged" // already ready with the same content: nothing fetched, nothing relinked
	OutcomePlaced    Outcome = "placed"    // fetched as needed and placed; ready
	OutcomeStored    Outcome = "stored"    // in the content store (no destination given)
	OutcomeFailed    Outcome = "failed"
)

// Result is what happened to one weight.
type Result struct {
	Weight  pull.Weight
	Outcome Outcome
	Place   string // the weight's directory (v1) or ROOT (v0); "" without a destination
	Err     error
}

// destHint says how to make room in a full destination.
const destHint = "delete what is not needed on it, or pull to a bigger disk"

// Deliver fetches ws into the store and, with p set, places each at its
// target with the markers: downloading first, ready last, failed holding
// the error. A weight already ready with the same content is not touched.
// Each weight succeeds or fails on its own.
func Deliver(ctx context.Context, f *pull.Fetcher, p *Placer, ws []pull.Weight) []Result {
	res := make([]Result, len(ws))
	var todo []int
	places := map[string]string{}
	for i, w := range ws {
		res[i].Weight = w
		if p == nil {
			todo = append(todo, i)
			continue
		}
		res[i].Place = p.Dir(w)
		key := p.Markers(w)
		if other, dup := places[key]; dup {
			res[i].Outcome, res[i].Err = OutcomeFailed, fmt.Errorf("%s: %s also delivers to %s; select one of them by name", w, other, res[i].Place)
			continue
		}
		places[key] = w.String()
		unlock, err := p.Lock(ctx, w)
		if err != nil {
			res[i].Outcome, res[i].Err = OutcomeFailed, err
			continue
		}
		defer unlock()
		if p.IsReady(w) {
			res[i].Outcome = OutcomeUnchanged
			continue
		}
		if err := p.Begin(w); err != nil {
			res[i].Outcome, res[i].Err = OutcomeFailed, nospace.Explain(err, p.Root, destHint)
			continue
		}
		todo = append(todo, i)
	}
	sub := make([]pull.Weight, len(todo))
	for k, i := range todo {
		sub[k] = ws[i]
	}
	errs := f.Fetch(ctx, sub)
	for k, i := range todo {
		w := ws[i]
		err := errs[k]
		if err == nil && p == nil {
			res[i].Outcome = OutcomeStored
			continue
		}
		if err == nil {
			err = nospace.Explain(p.Place(ctx, w), p.Root, destHint)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", w, err)
			res[i].Outcome, res[i].Err = OutcomeFailed, err
			if p != nil {
				if ferr := p.Fail(w, err); ferr != nil {
					res[i].Err = fmt.Errorf("%w (and the failed marker could not be written: %v)", err, ferr)
				}
			}
			continue
		}
		res[i].Outcome = OutcomePlaced
	}
	return res
}
