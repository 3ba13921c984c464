package llb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/wire"
	bkllb "github.com/moby/buildkit/client/llb"
)

// WeightRefs turns the lock projection (config.ProjectLock, which the
// caller runs: it checks drift and packing) into the weights the image
// promises, in cog.yaml order. A weight without an entry is still an error
// here, the last line of defence, so the image never promises a weight that
// has no set digest.
func WeightRefs(cfg *config.Config, proj *config.Lock) ([]WeightRef, error) {
	if len(cfg.Weights) == 0 {
		return nil, nil
	}
	refs := make([]WeightRef, 0, len(cfg.Weights))
	for i, w := range cfg.Weights {
		lw, ok := proj.Entry(w.Name)
		if !ok {
			return nil, posErr(cfg, fmt.Sprintf("weights[%d]", i), "weight %q is not in weights.lock; run `cog-frontend weights import` first", w.Name)
		}
		refs = append(refs, WeightRef{Name: w.Name, Target: w.Target, SetDigest: lw.SetDigest, Sources: w.Sources})
	}
	return refs, nil
}

// weightsJSON is /src/.cog/weights.json (weights-v1 §11): the runtime reads
// it to learn which weights will be delivered at which targets.
func weightsJSON(ws []WeightRef) ([]byte, error) {
	type entry struct {
		Name      string `json:"name"`
		Target    string `json:"target"`
		SetDigest string `json:"setDigest"`
	}
	doc := struct {
		Weights []entry `json:"weights"`
	}{Weights: make([]entry, 0, len(ws))}
	for _, w := range ws {
		doc.Weights = append(doc.Weights, entry{w.Name, w.Target, w.SetDigest})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// localSourceDir returns the context-relative directory of a weight source
// that lives in the project ("weights/x", "./weights/x", "file://./weights/x"),
// or "" for remote sources and absolute paths outside the context.
func localSourceDir(uri string) string {
	u := uri
	switch {
	case strings.HasPrefix(u, "file://"):
		u = strings.TrimPrefix(u, "file://")
		if strings.HasPrefix(u, "/") {
			return ""
		}
	case strings.Contains(u, "://"):
		return ""
	case strings.HasPrefix(u, "/"):
		return ""
	}
	u = path.Clean(u)
	if u == "." || u == ".." || strings.HasPrefix(u, "../") {
		return ""
	}
	return u
}

// ContextExcludes are the patterns a caller should add to the main
// context's local source so BuildKit never receives files the image cannot
// contain: .cog/ always, and in bundle format the managed weights' source
// directories (possibly many GiB). In standalone format the weights are
// copied from the context, so they stay.
func ContextExcludes(cfg *config.Config, format string) []string {
	ex := []string{".cog"}
	if wire.ResolveFormat(format, len(cfg.Weights) > 0) == wire.FormatStandalone {
		return ex
	}
	return append(ex, weightSourceDirs(cfg)...)
}

// weightSourceDirs lists the context-relative source directories of all
// weights, in cog.yaml order, without duplicates.
func weightSourceDirs(cfg *config.Config) []string {
	var dirs []string
	seen := map[string]bool{}
	for _, w := range cfg.Weights {
		for _, s := range w.Sources {
			if d := localSourceDir(s.URI); d != "" && !seen[d] {
				seen[d] = true
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}

// gitignoreToPatterns turns the gitignore-style include/exclude patterns of
// weights-v1 into BuildKit copy patterns (moby/patternmatcher, which are
// anchored at the source root): a pattern without an inner slash matches at
// any depth, a trailing slash means "this directory and everything in it".
// No library does this translation: go-git's gitignore matcher matches paths
// but cannot hand BuildKit a pattern, and the copy must filter inside
// BuildKit because llb does no I/O.
func gitignoreToPatterns(pats []string) []string {
	var out []string
	for _, p := range pats {
		p = strings.TrimSuffix(p, "/")
		anchored := strings.HasPrefix(p, "/") || strings.Contains(p, "/")
		p = strings.TrimPrefix(p, "/")
		if p == "" {
			continue
		}
		if !anchored && !strings.HasPrefix(p, "**/") {
			p = "**/" + p
		}
		out = append(out, p)
		if !strings.HasSuffix(p, "/**") {
			// A matched directory brings its contents (gitignore semantics).
			out = append(out, p+"/**")
		}
	}
	return out
}

// weightLayers builds one state per weight holding only that weight's files
// at its target, copied from the build context with the weight's filters.
// Each becomes its own layer when merged, so an unchanged weight is reused
// from cache and deduplicated in registries.
func weightLayers(cfg *config.Config, ctxState bkllb.State, ws []WeightRef, loc func(string) []bkllb.ConstraintsOpt) ([]bkllb.State, error) {
	var layers []bkllb.State
	for i, w := range ws {
		key := fmt.Sprintf("weights[%d]", i)
		st := bkllb.Scratch()
		for j, s := range w.Sources {
			dir := localSourceDir(s.URI)
			if dir == "" {
				return nil, posErr(cfg, fmt.Sprintf("%s.source[%d].uri", key, j), "standalone images copy weights from the build context, but %q is not a path inside the project; use the bundle format for remote weights", s.URI)
			}
			excludes := append(gitignoreToPatterns(s.Exclude), "**/.cog", "**/.cog/**")
			opts := append([]bkllb.ConstraintsOpt{bkllb.WithCustomNamef("[cog] weight %s: copy %s to %s", w.Name, dir, w.Target)}, loc(key)...)
			st = st.File(bkllb.Copy(ctxState, "/"+dir+"/", w.Target+"/", &bkllb.CopyInfo{
				CopyDirContentsOnly: true,
				CreateDestPath:      true,
				IncludePatterns:     gitignoreToPatterns(s.Include),
				ExcludePatterns:     excludes,
			}), opts...)
		}
		layers = append(layers, st)
	}
	return layers, nil
}
