package config

import (
	"encoding/json"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v3"
)

// LockVersion is the only weights.lock version this package reads and writes.
const LockVersion = 1

var (
	lockKeys       = []string{"version", "envelopeFormat", "weights"}
	lockWeightKeys = []string{"name", "target", "sources", "importedAt", "digest", "setDigest", "size", "sizeCompressed", "files", "layers"}
	lockSourceKeys = []string{"uri", "fingerprint", "include", "exclude"}
	lockFileKeys   = []string{"path", "size", "digest", "layer"}
	lockLayerKeys  = []string{"digest", "mediaType", "size", "sizeUncompressed"}
)

// reimport is the way out of a weights.lock this tool cannot read. The
// import refuses such a lock too (it never overwrites what it cannot
// read), so the advice is to restore it or to delete it first.
const reimport = "restore weights.lock from version control, or delete it and run `cog-frontend weights import` to write it anew"

// ParseLock reads weights.lock strictly (weights-v1 §10): version must be the
// integer 1, every key must be known, names and targets unique, digests
// well-formed and sizes consistent. Errors are *Error values with the
// position in the file, joined so all are reported at once. filename is used
// in positions ("weights.lock" when empty).
func ParseLock(filename string, data []byte) (*Lock, error) {
	if filename == "" {
		filename = wire.LockFilename
	}
	l, err := parseLock(filename, data)
	return l, withLockAdvice(err)
}

// withLockAdvice appends reimport to every problem that says no way out of
// its own: the shared checks (unknown or repeated keys, wrong shapes) give
// advice for cog.yaml, which a person edits; weights.lock is generated.
func withLockAdvice(err error) error {
	for _, e := range Errors(err) {
		if !strings.Contains(e.Msg, "cog-frontend weights import") {
			e.Msg += "; " + reimport
		}
	}
	return err
}

func parseLock(filename string, data []byte) (*Lock, error) {
	root, err := jsonNodes(filename, data)
	if err != nil {
		return nil, err
	}
	w := &walker{problems: problems{file: filename}, src: SourceMap{}, jsonStrings: true}
	if isOldLock(root) {
		return nil, w.oldLockError(root)
	}
	m, ok := w.mapping(root, "", lockKeys...)
	if !ok {
		return nil, w.err()
	}
	lock := &Lock{}
	w.lockVersion(m, root, lock)
	if f, ok := w.required(m, root, "", "envelopeFormat"); ok {
		lock.EnvelopeFormat = w.digestString(f)
	}
	if f, ok := w.required(m, root, "", "weights"); ok {
		lock.Weights = w.lockWeights(f)
	}
	if err := w.err(); err != nil {
		return nil, err
	}
	return lock, nil
}

// isOldLock recognises the February 2026 "v0 bundle" lockfile: version is
// the string "1" (or it has that format's top-level files/created keys).
func isOldLock(root *yaml.Node) bool {
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i].Value, root.Content[i+1]
		if (k == "version" && v.ShortTag() == "!!str") || k == "files" || k == "created" {
			return true
		}
	}
	return false
}

func (w *walker) oldLockError(root *yaml.Node) error {
	pos := w.pos(root)
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "version" {
			pos = w.pos(root.Content[i+1])
		}
	}
	return &Error{Pos: pos, Path: "version", Msg: message(
		"this is a lockfile of the February 2026 weights format (version \"1\" as a string, one artifact for all weight files), which this tool does not use",
		"", "move the weights to the weights: section of cog.yaml (name, target, source), then delete it and run `cog-frontend weights import` to write a version 1 lockfile")}
}

func (w *walker) lockVersion(m map[string]field, root *yaml.Node, lock *Lock) {
	f, ok := w.required(m, root, "", "version")
	if !ok {
		return
	}
	n := resolve(f.val)
	if n.ShortTag() != "!!int" || n.Value != strconv.Itoa(LockVersion) {
		w.fail(w.pos(n), f.path, "unsupported weights.lock version", describe(n),
			"this tool reads version "+strconv.Itoa(LockVersion)+" (the integer): use the cog-frontend that wrote it, or delete it and run `cog-frontend weights import` to write it anew")
		return
	}
	lock.Version = LockVersion
}

// required returns a mapping's field, reporting it when missing or null.
func (w *walker) required(m map[string]field, parent *yaml.Node, path, key string) (field, bool) {
	f, ok := m[key]
	if !ok || isNull(f.val) {
		w.fail(w.pos(parent), joinPath(path, key), "is required", "", reimport)
		return field{}, false
	}
	return f, true
}

func (w *walker) lockWeights(f field) []LockWeight {
	items, _ := w.list(f)
	out := make([]LockWeight, 0, len(items))
	names, targets := map[string]int{}, map[string]int{}
	for _, it := range items {
		lw, ok := w.lockWeight(it)
		if !ok {
			continue
		}
		if line, dup := names[lw.Name]; dup {
			p := joinPath(it.path, "name")
			w.fail(w.src[p], p, "weight name appears twice", quote(lw.Name), "first at line "+strconv.Itoa(line)+"; "+reimport)
			continue
		}
		if line, dup := targets[lw.Target]; dup {
			p := joinPath(it.path, "target")
			w.fail(w.src[p], p, "weight target appears twice", quote(lw.Target), "first at line "+strconv.Itoa(line)+"; "+reimport)
			continue
		}
		names[lw.Name] = w.src[joinPath(it.path, "name")].Line
		targets[lw.Target] = w.src[joinPath(it.path, "target")].Line
		out = append(out, lw)
	}
	return out
}

func (w *walker) lockWeight(it field) (LockWeight, bool) {
	m, ok := w.mapping(it.val, it.path, lockWeightKeys...)
	if !ok {
		return LockWeight{}, false
	}
	before := len(w.errs)
	var lw LockWeight
	get := func(key string) (field, bool) { return w.required(m, it.val, it.path, key) }
	if f, ok := get("name"); ok {
		if lw.Name, _ = w.str(f); lw.Name != "" && !WeightNameRE.MatchString(lw.Name) {
			w.fail(w.valuePos(f), f.path, "is not a valid weight name", quote(lw.Name), reimport)
		}
	}
	if f, ok := get("target"); ok {
		if lw.Target, _ = w.str(f); !strings.HasPrefix(lw.Target, "/") || path.Clean(lw.Target) != lw.Target || lw.Target == "/" {
			w.fail(w.valuePos(f), f.path, "must be a clean absolute path other than /", quote(lw.Target), reimport)
		}
	}
	if f, ok := get("sources"); ok {
		lw.Sources = w.lockSources(f)
	}
	if f, ok := get("importedAt"); ok {
		if lw.ImportedAt, _ = w.str(f); lw.ImportedAt != "" {
			if _, err := time.Parse(time.RFC3339Nano, lw.ImportedAt); err != nil {
				w.fail(w.valuePos(f), f.path, "is not an RFC 3339 time", quote(lw.ImportedAt), reimport)
			}
		}
	}
	if f, ok := get("digest"); ok {
		lw.Digest = w.digestString(f)
	}
	if f, ok := get("setDigest"); ok {
		lw.SetDigest = w.digestString(f)
	}
	if f, ok := get("size"); ok {
		lw.Size = w.size(f)
	}
	if f, ok := get("sizeCompressed"); ok {
		lw.SizeCompressed = w.size(f)
	}
	if f, ok := get("files"); ok {
		lw.Files = w.lockFiles(f)
	}
	if f, ok := get("layers"); ok {
		lw.Layers = w.lockLayers(f)
	}
	if len(w.errs) == before {
		w.checkLockSums(it, lw)
	}
	return lw, len(w.errs) == before
}

// checkLockSums checks what the spec derives from the layers: the two
// sizes, and that every file lives in a listed layer. A mismatch means the
// file was edited by hand or cut short.
func (w *walker) checkLockSums(it field, lw LockWeight) {
	var size, compressed int64
	layers := map[string]bool{}
	for _, l := range lw.Layers {
		size += l.SizeUncompressed
		compressed += l.Size
		layers[l.Digest] = true
	}
	if size != lw.Size {
		p := joinPath(it.path, "size")
		w.fail(w.src[p], p, "does not equal the sum of the layers' sizeUncompressed ("+strconv.FormatInt(size, 10)+")", strconv.FormatInt(lw.Size, 10), reimport)
	}
	if compressed != lw.SizeCompressed {
		p := joinPath(it.path, "sizeCompressed")
		w.fail(w.src[p], p, "does not equal the sum of the layers' size ("+strconv.FormatInt(compressed, 10)+")", strconv.FormatInt(lw.SizeCompressed, 10), reimport)
	}
	for i, f := range lw.Files {
		if !layers[f.Layer] {
			p := joinPath(indexPath(joinPath(it.path, "files"), i), "layer")
			w.fail(w.src[p], p, "names a layer that is not in layers", quote(f.Layer), reimport)
		}
	}
}

func (w *walker) lockSources(f field) []LockSource {
	items, _ := w.list(f)
	out := make([]LockSource, 0, len(items))
	for _, it := range items {
		m, ok := w.mapping(it.val, it.path, lockSourceKeys...)
		if !ok {
			continue
		}
		var s LockSource
		if uf, ok := w.required(m, it.val, it.path, "uri"); ok {
			s.URI, _ = w.str(uf)
			if norm, err := NormalizeSourceURI(s.URI); err != nil || norm != s.URI {
				w.fail(w.valuePos(uf), uf.path, "is not a normalised source uri", quote(s.URI), reimport)
			}
		}
		if ff, ok := w.required(m, it.val, it.path, "fingerprint"); ok {
			s.Fingerprint, _ = w.str(ff)
		}
		if pf, ok := m["include"]; ok {
			s.Include = w.lockPatterns(pf)
		}
		if pf, ok := m["exclude"]; ok {
			s.Exclude = w.lockPatterns(pf)
		}
		out = append(out, s)
	}
	return out
}

// lockPatterns is strs that gives [] rather than nil for an empty list.
func (w *walker) lockPatterns(f field) []string { return nonNil(w.strs(f)) }

func (w *walker) lockFiles(f field) []LockFile {
	items, _ := w.list(f)
	out := make([]LockFile, 0, len(items))
	for _, it := range items {
		m, ok := w.mapping(it.val, it.path, lockFileKeys...)
		if !ok {
			continue
		}
		var lf LockFile
		if pf, ok := w.required(m, it.val, it.path, "path"); ok {
			lf.Path, _ = w.str(pf)
		}
		if sf, ok := w.required(m, it.val, it.path, "size"); ok {
			lf.Size = w.size(sf)
		}
		if df, ok := w.required(m, it.val, it.path, "digest"); ok {
			lf.Digest = w.digestString(df)
		}
		if lf2, ok := w.required(m, it.val, it.path, "layer"); ok {
			lf.Layer = w.digestString(lf2)
		}
		out = append(out, lf)
	}
	return out
}

func (w *walker) lockLayers(f field) []LockLayer {
	items, _ := w.list(f)
	out := make([]LockLayer, 0, len(items))
	for _, it := range items {
		m, ok := w.mapping(it.val, it.path, lockLayerKeys...)
		if !ok {
			continue
		}
		var ll LockLayer
		if df, ok := w.required(m, it.val, it.path, "digest"); ok {
			ll.Digest = w.digestString(df)
		}
		if mf, ok := w.required(m, it.val, it.path, "mediaType"); ok {
			ll.MediaType, _ = w.str(mf)
		}
		if sf, ok := w.required(m, it.val, it.path, "size"); ok {
			ll.Size = w.size(sf)
		}
		if sf, ok := w.required(m, it.val, it.path, "sizeUncompressed"); ok {
			ll.SizeUncompressed = w.size(sf)
		}
		out = append(out, ll)
	}
	return out
}

func (w *walker) digestString(f field) string {
	s, ok := w.str(f)
	if !ok {
		return ""
	}
	if d, err := digest.Parse(s); err != nil || d.Algorithm() != digest.SHA256 {
		w.fail(w.valuePos(f), f.path, "is not a sha256 digest", quote(s), "expected sha256:<64 hex digits>; "+reimport)
	}
	return s
}

func (w *walker) size(f field) int64 {
	n := resolve(f.val)
	var v int64
	if n.ShortTag() != "!!int" || n.Decode(&v) != nil || v < 0 {
		w.fail(w.pos(n), f.path, "must be a whole number of bytes, 0 or more", describe(n), reimport)
		return 0
	}
	return v
}

// MarshalLock writes the canonical weights.lock bytes (weights-v1 §10):
// two-space indented JSON in the struct's key order, files sorted by path,
// layers by digest, absent lists written as [], Go's JSON escaping, and a
// trailing newline. Weights keep their order (cog.yaml order). The input is
// not modified.
func MarshalLock(l *Lock) ([]byte, error) {
	c := canonicalLock(l)
	// MarshalIndent, not an Encoder: Cog writes no trailing newline, and a
	// lock written by either tool should be byte-identical.
	return json.MarshalIndent(c, "", "  ")
}

func canonicalLock(l *Lock) Lock {
	c := Lock{Version: l.Version, EnvelopeFormat: l.EnvelopeFormat, Weights: make([]LockWeight, len(l.Weights))}
	for i, w := range l.Weights {
		cw := w
		cw.Sources = make([]LockSource, len(w.Sources))
		for j, s := range w.Sources {
			s.Include = sortedPatterns(s.Include)
			s.Exclude = sortedPatterns(s.Exclude)
			cw.Sources[j] = s
		}
		cw.Files = append([]LockFile{}, w.Files...)
		sort.SliceStable(cw.Files, func(a, b int) bool { return cw.Files[a].Path < cw.Files[b].Path })
		cw.Layers = append([]LockLayer{}, w.Layers...)
		sort.SliceStable(cw.Layers, func(a, b int) bool { return cw.Layers[a].Digest < cw.Layers[b].Digest })
		c.Weights[i] = cw
	}
	return c
}

// sortedPatterns is the canonical form of an include/exclude list: patterns
// are a set (no "!" negation is allowed, so order cannot matter), and Cog
// stores them sorted, never null.
func sortedPatterns(s []string) []string {
	out := nonNil(s)
	sort.Strings(out)
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return append([]string{}, s...)
}
