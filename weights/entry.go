package weights

import (
	"slices"
	"strings"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/weights/pack"
)

// canonicalLockWeight sorts files by path and layers by digest and turns
// absent include/exclude into [] (spec §10).
func canonicalLockWeight(w config.LockWeight) config.LockWeight {
	w.Files = slices.Clone(w.Files)
	slices.SortFunc(w.Files, func(a, b config.LockFile) int { return strings.Compare(a.Path, b.Path) })
	w.Layers = slices.Clone(w.Layers)
	slices.SortFunc(w.Layers, func(a, b config.LockLayer) int { return strings.Compare(a.Digest, b.Digest) })
	w.Sources = slices.Clone(w.Sources)
	for i := range w.Sources {
		w.Sources[i].Include = nonNil(w.Sources[i].Include)
		w.Sources[i].Exclude = nonNil(w.Sources[i].Exclude)
	}
	return w
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// entryBytes builds the config blob and manifest of a lock entry; the
// manifest's digest is the entry's "digest".
func entryBytes(w config.LockWeight) (cfg, manifest []byte, err error) {
	files := make([]pack.PackedFile, len(w.Files))
	for i, f := range w.Files {
		files[i] = pack.PackedFile{Path: f.Path, Size: f.Size, Digest: f.Digest, Layer: f.Layer}
	}
	cfg, err = pack.ConfigBlob(w.Name, w.Target, w.SetDigest, files)
	if err != nil {
		return nil, nil, err
	}
	layers := make([]pack.PackedLayer, len(w.Layers))
	for i, l := range w.Layers {
		layers[i] = pack.PackedLayer{Digest: l.Digest, MediaType: l.MediaType, Size: l.Size, SizeUncompressed: l.SizeUncompressed}
	}
	manifest, err = pack.Manifest(w.Name, w.Target, w.SetDigest, cfg, layers)
	return cfg, manifest, err
}

// sameEntry compares two canonical entries ignoring importedAt.
func sameEntry(a, b config.LockWeight) bool {
	a.ImportedAt, b.ImportedAt = "", ""
	x, err1 := encodeLock(&config.Lock{Weights: []config.LockWeight{a}})
	y, err2 := encodeLock(&config.Lock{Weights: []config.LockWeight{b}})
	return err1 == nil && err2 == nil && string(x) == string(y)
}
