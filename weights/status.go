package weights

// The pure half of `weights status` against a registry: which blobs,
// manifests and tags a lock needs (RegistryWanted), and, given what a probe
// found (RegistryState), what is present and what a push would still have
// to upload (CompareRegistry). No I/O here; status_registry.go probes.

import (
	"slices"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/weights/pack"
)

// TagFunc names the tag a weight manifest is pushed under (spec §9:
// cog-weight.<sanitised name>.<12 hex of set digest>). The exporter owns the
// naming; callers pass exporter.WeightTag, since weights may not import it.
type TagFunc func(name, setDigest string) string

// RegistryWant is what to ask a registry repository about for a lock:
// blob digests (layers and config blobs), manifest digests and tags, each
// deduplicated and sorted.
type RegistryWant struct {
	Blobs     []string
	Manifests []string
	Tags      []string
}

// Empty reports whether there is nothing to probe.
func (w RegistryWant) Empty() bool {
	return len(w.Blobs) == 0 && len(w.Manifests) == 0 && len(w.Tags) == 0
}

// RegistryState is what a probe learned about a repository. A digest or tag
// missing from a map was not found.
type RegistryState struct {
	Blobs     map[string]bool   // blob digest -> present
	Manifests map[string]bool   // manifest digest -> present
	Tags      map[string]string // tag -> manifest digest it points at
}

// WeightRegistryReport is one locked weight compared with a registry.
type WeightRegistryReport struct {
	Name            string   `json:"name"`
	Manifest        string   `json:"manifest"` // the lock's digest
	ManifestPresent bool     `json:"manifestPresent"`
	Tag             string   `json:"tag"`
	TagPresent      bool     `json:"tagPresent"`          // the tag exists and points at Manifest
	TagDigest       string   `json:"tagDigest,omitempty"` // what the tag points at, when it exists
	Config          string   `json:"config,omitempty"`    // config blob digest ("" if the entry is inconsistent)
	ConfigPresent   bool     `json:"configPresent"`
	Layers          int      `json:"layers"`
	LayersPresent   int      `json:"layersPresent"`
	LayersMissing   int      `json:"layersMissing"`
	BytesPresent    int64    `json:"bytesPresent"`  // layer bytes already in the repository
	BytesToUpload   int64    `json:"bytesToUpload"` // missing layer bytes plus a missing config blob
	MissingLayers   []string `json:"missingLayers"` // digests, sorted
	Error           string   `json:"error,omitempty"`
}

// Complete reports whether a push would upload nothing for this weight.
func (r WeightRegistryReport) Complete() bool {
	return r.Error == "" && r.LayersMissing == 0 && r.ConfigPresent && r.ManifestPresent && r.TagPresent
}

// lockWeightConfig returns the digest and size of a lock entry's config
// blob, rebuilt from the entry (the lock does not record it).
func lockWeightConfig(w config.LockWeight) (string, int64, error) {
	cfg, _, err := entryBytes(canonicalLockWeight(w))
	if err != nil {
		return "", 0, err
	}
	return pack.Digest(cfg), int64(len(cfg)), nil
}

// RegistryWanted lists what to probe for every weight of lock.
func RegistryWanted(lock *config.Lock, tagOf TagFunc) RegistryWant {
	var w RegistryWant
	for _, e := range lock.Weights {
		for _, l := range e.Layers {
			w.Blobs = append(w.Blobs, l.Digest)
		}
		if d, _, err := lockWeightConfig(e); err == nil {
			w.Blobs = append(w.Blobs, d)
		}
		if e.Digest != "" {
			w.Manifests = append(w.Manifests, e.Digest)
		}
		w.Tags = append(w.Tags, tagOf(e.Name, e.SetDigest))
	}
	return RegistryWant{Blobs: sortedSet(w.Blobs), Manifests: sortedSet(w.Manifests), Tags: sortedSet(w.Tags)}
}

func sortedSet(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// CompareRegistry reports, per weight of lock in lock order, which of its
// layers, config blob, manifest and tag the registry holds according to st.
func CompareRegistry(lock *config.Lock, tagOf TagFunc, st RegistryState) []WeightRegistryReport {
	out := make([]WeightRegistryReport, 0, len(lock.Weights))
	for _, e := range lock.Weights {
		r := WeightRegistryReport{
			Name:          e.Name,
			Manifest:      e.Digest,
			Tag:           tagOf(e.Name, e.SetDigest),
			Layers:        len(e.Layers),
			MissingLayers: []string{},
		}
		r.ManifestPresent = e.Digest != "" && st.Manifests[e.Digest]
		r.TagDigest = st.Tags[r.Tag]
		r.TagPresent = r.TagDigest != "" && r.TagDigest == e.Digest
		for _, l := range e.Layers {
			if st.Blobs[l.Digest] {
				r.LayersPresent++
				r.BytesPresent += l.Size
				continue
			}
			r.LayersMissing++
			r.BytesToUpload += l.Size
			r.MissingLayers = append(r.MissingLayers, l.Digest)
		}
		slices.Sort(r.MissingLayers)
		d, size, err := lockWeightConfig(e)
		if err != nil {
			r.Error = "weights.lock entry is inconsistent (" + err.Error() + "): run `cog-frontend weights import`"
		} else {
			r.Config = d
			r.ConfigPresent = st.Blobs[d]
			if !r.ConfigPresent {
				r.BytesToUpload += size
			}
		}
		out = append(out, r)
	}
	return out
}
