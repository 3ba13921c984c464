package config

import (
	"slices"
	"strings"
)

// DriftKind says how cog.yaml and weights.lock disagree about one weight.
type DriftKind string

const (
	DriftPending       DriftKind = "pending"        // in cog.yaml, not in the lock
	DriftOrphaned      DriftKind = "orphaned"       // in the lock, not in cog.yaml
	DriftConfigChanged DriftKind = "config-changed" // in both, target/uri/include/exclude differ
)

// DriftItem is one weight whose cog.yaml entry and lock entry disagree.
type DriftItem struct {
	Kind    DriftKind
	Name    string
	Pos     Position // the weight in cog.yaml; zero for orphaned entries
	Changes []string // for config-changed: what differs, e.g. "target: /a -> /b"
	Message string   // says which weight and what to run
}

func (d DriftItem) String() string { return d.Message }

// Drift compares cog.yaml's weights with weights.lock (weights-v1 §10). The
// result is in cog.yaml order, then orphaned lock entries in lock order;
// nil means the two agree. A nil lock counts as empty.
func Drift(cfg *Config, lock *Lock) []DriftItem {
	locked := map[string]LockWeight{}
	if lock != nil {
		for _, lw := range lock.Weights {
			locked[lw.Name] = lw
		}
	}
	var out []DriftItem
	inConfig := map[string]bool{}
	for i, w := range cfg.Weights {
		inConfig[w.Name] = true
		pos := cfg.Source[indexPath("weights", i)]
		lw, ok := locked[w.Name]
		if !ok {
			out = append(out, DriftItem{Kind: DriftPending, Name: w.Name, Pos: pos,
				Message: "weight " + quote(w.Name) + " is in cog.yaml but not in weights.lock; run: cog-frontend weights import " + w.Name})
			continue
		}
		if changes := weightChanges(w, lw); len(changes) > 0 {
			out = append(out, DriftItem{Kind: DriftConfigChanged, Name: w.Name, Pos: pos, Changes: changes,
				Message: "weight " + quote(w.Name) + " changed in cog.yaml since it was imported (" + strings.Join(changes, "; ") +
					"); run: cog-frontend weights import " + w.Name})
		}
	}
	if lock != nil {
		for _, lw := range lock.Weights {
			if !inConfig[lw.Name] {
				out = append(out, DriftItem{Kind: DriftOrphaned, Name: lw.Name,
					Message: "weight " + quote(lw.Name) + " is in weights.lock but no longer in cog.yaml; run: cog-frontend weights import (it drops entries not in cog.yaml), or add the weight back to cog.yaml"})
			}
		}
	}
	return out
}

// weightChanges lists what differs between a configured weight and its lock
// entry. URIs are compared in normalised form, so "weights/x" and
// "file://./weights/x" are the same; nil and empty pattern lists are equal.
func weightChanges(w Weight, lw LockWeight) []string {
	var changes []string
	if w.Target != lw.Target {
		changes = append(changes, "target: "+lw.Target+" -> "+w.Target)
	}
	if len(w.Sources) != len(lw.Sources) {
		return append(changes, "number of sources: "+itoa(len(lw.Sources))+" -> "+itoa(len(w.Sources)))
	}
	for i, s := range w.Sources {
		ls := lw.Sources[i]
		label := "source"
		if len(w.Sources) > 1 {
			label = "source[" + itoa(i) + "]"
		}
		uri, err := NormalizeSourceURI(s.URI)
		if err != nil {
			uri = s.URI
		}
		if uri != ls.URI {
			changes = append(changes, label+".uri: "+ls.URI+" -> "+uri)
		}
		if !slices.Equal(sortedPatterns(s.Include), sortedPatterns(ls.Include)) {
			changes = append(changes, label+".include: "+patterns(ls.Include)+" -> "+patterns(s.Include))
		}
		if !slices.Equal(sortedPatterns(s.Exclude), sortedPatterns(ls.Exclude)) {
			changes = append(changes, label+".exclude: "+patterns(ls.Exclude)+" -> "+patterns(s.Exclude))
		}
	}
	return changes
}

func patterns(p []string) string { return "[" + strings.Join(p, ", ") + "]" }
