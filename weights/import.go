package weights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/sync/errgroup"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
	"github.com/cog-frontend/cog-frontend/internal/ctxio"
	"github.com/cog-frontend/cog-frontend/internal/nospace"
	"github.com/cog-frontend/cog-frontend/weights/pack"
	"github.com/cog-frontend/cog-frontend/weights/store"
	"github.com/cog-frontend/cog-frontend/wire"
)

// Status says what an import found for one weight.
type Status string

const (
	StatusNew             Status = "new"              // in cog.yaml, not in weights.lock
	StatusUnchanged       Status = "unchanged"        // lock entry still matches config and files
	StatusConfigChanged   Status = "config-changed"   // target, uri, include/exclude or packing changed
	StatusUpstreamChanged Status = "upstream-changed" // same config, different source content
	StatusRemoved         Status = "removed"          // in weights.lock, no longer in cog.yaml
	StatusSourceError     Status = "source-error"     // a source could not be listed (status and --dry-run only)
)

// ImportOptions configures Import.
type ImportOptions struct {
	ProjectDir string         // relative sources resolve against it
	Config     *config.Config // parsed cog.yaml
	LockPath   string         // default <ProjectDir>/weights.lock
	Names      []string       // only these weights; all when empty
	DryRun     bool           // compute the plan, write nothing
	Store      *store.Store   // nil: open store.DefaultDir
	Progress   io.Writer      // progress lines for long work; nil: silent
	// ProgressTTY: Progress is a terminal, so a running "read X of Y"
	// meter is shown too; a log gets one line per weight and step only.
	ProgressTTY bool
	Now         func() time.Time
	Pack        pack.Options // zero: the spec's packing (tests vary it)
}

// WeightReport is the outcome for one weight.
type WeightReport struct {
	Name         string   `json:"name"`
	Status       Status   `json:"status"`
	Reason       string   `json:"reason,omitempty"`
	Files        int      `json:"files"`
	Size         int64    `json:"size"`
	Layers       int      `json:"layers"`
	PackedLayers int      `json:"packedLayers"` // layers whose bytes were produced in this run
	SetDigest    string   `json:"setDigest,omitempty"`
	Digest       string   `json:"digest,omitempty"`
	Notices      []string `json:"notices,omitempty"`
}

// ImportResult is what Import did.
type ImportResult struct {
	Weights     []WeightReport
	LockPath    string
	LockWritten bool
}

// weightJob is one weight being imported.
type weightJob struct {
	w        config.Weight
	old      *config.LockWeight
	sources  []*listing
	files    []*srcFile // included, merged, sorted by path
	plan     []pack.LayerPlan
	layers   []pack.PackedLayer // parallel to plan; Digest "" until packed or reused
	packed   atomic.Int32       // layers packed in this run, counted by concurrent packOne calls
	notices  []string
	err      error  // the source could not be listed (reports only)
	envelope string // the packing, for the store's layer memo
}

// Import brings weights.lock up to date with cog.yaml and the weight files
// (spec §10). Each byte that must be read is read once: included files are
// hashed while their layer is built, excluded ones (needed for the source
// fingerprint) are only hashed, and files whose stat is unchanged since they
// were last hashed are not read at all. The lockfile is written atomically
// and only when its bytes change; on any error it is left as it was.
func Import(ctx context.Context, opts ImportOptions) (*ImportResult, error) {
	if opts.Config == nil {
		return nil, fmt.Errorf("weights import: no cog.yaml configuration given")
	}
	if opts.LockPath == "" {
		opts.LockPath = filepath.Join(opts.ProjectDir, wire.LockFilename)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	st, err := storeOrDefault(opts.Store)
	if err != nil {
		return nil, err
	}
	if !opts.DryRun {
		// One import per weights.lock at a time, across processes: the lock
		// is read, compared and rewritten as a unit.
		abs, _ := filepath.Abs(opts.LockPath)
		sum := sha256.Sum256([]byte(abs))
		lk := flock.New(filepath.Join(st.Root(), "locks", "import-"+hex.EncodeToString(sum[:8])+".lock"))
		if err := lk.Lock(); err != nil {
			return nil, fmt.Errorf("lock %s for import: %w", opts.LockPath, err)
		}
		defer lk.Unlock()
	}
	lock, oldBytes, err := readLock(opts.LockPath)
	if err != nil {
		return nil, err
	}
	envelope := opts.Pack.EnvelopeFormat()
	envelopeChanged := len(lock.Weights) > 0 && lock.EnvelopeFormat != envelope

	selected, err := selectWeights(opts.Config.Weights, opts.Names)
	if err != nil {
		return nil, err
	}
	if envelopeChanged && len(opts.Names) > 0 {
		return nil, fmt.Errorf("%s was written with a different packing (envelopeFormat %s, this tool packs %s): run `cog-frontend weights import` without weight names to repack every weight", opts.LockPath, lock.EnvelopeFormat, envelope)
	}
	oldByName := map[string]*config.LockWeight{}
	for i := range lock.Weights {
		oldByName[lock.Weights[i].Name] = &lock.Weights[i]
	}

	var jobs []*weightJob
	for _, w := range selected {
		j := &weightJob{w: w, old: oldByName[w.Name], envelope: envelope}
		if err := j.list(ctx, st, opts.ProjectDir); err != nil {
			if !opts.DryRun || ctx.Err() != nil {
				return nil, fmt.Errorf("weight %q: %w", w.Name, err)
			}
			// A report (status, --dry-run) goes on to the other weights.
			j.err, j.sources, j.files = err, nil, nil
			jobs = append(jobs, j)
			continue
		}
		j.plan = pack.Plan(fileList(j.files), opts.Pack)
		j.layers = make([]pack.PackedLayer, len(j.plan))
		jobs = append(jobs, j)
	}

	if !opts.DryRun && !envelopeChanged {
		// For weights already in the lock, learn unknown digests by hashing
		// alone first (a fresh clone has no stat cache): every layer whose
		// files still match the lock is then reused, which skips level-9
		// gzip of unchanged bundles and the second hash of unchanged raw
		// layers. New weights skip this and hash while packing.
		var locked []*weightJob
		for _, j := range jobs {
			if j.old != nil {
				locked = append(locked, j)
			}
		}
		if err := runWork(ctx, st, locked, true, opts.Progress, opts.ProgressTTY); err != nil {
			return nil, st.Explain(err)
		}
		for _, j := range jobs {
			j.reuseLayers()
		}
	}
	if !opts.DryRun {
		for _, j := range jobs {
			j.recallLayers(st, envelope)
		}
	}
	if err := runWork(ctx, st, jobs, opts.DryRun, opts.Progress, opts.ProgressTTY); err != nil {
		return nil, st.Explain(err)
	}

	res := &ImportResult{LockPath: opts.LockPath}
	newLock := &config.Lock{Version: 1, EnvelopeFormat: envelope}
	if len(lock.Weights) > 0 && len(opts.Names) > 0 {
		newLock.EnvelopeFormat = lock.EnvelopeFormat
	}
	byName := map[string]config.LockWeight{}
	drift := map[string]*config.DriftItem{}
	for _, d := range config.Drift(opts.Config, lock) {
		if d.Kind == config.DriftConfigChanged {
			drift[d.Name] = &d
		}
	}
	for _, j := range jobs {
		rep := j.report(envelopeChanged, drift[j.w.Name])
		if !opts.DryRun {
			e, err := j.entry()
			if err != nil {
				return nil, fmt.Errorf("weight %q: %w", j.w.Name, err)
			}
			if j.old != nil && sameEntry(*j.old, e) {
				e = canonicalLockWeight(*j.old)
			} else {
				e.ImportedAt = opts.Now().UTC().Format(time.RFC3339Nano)
				if rep.Status == StatusUnchanged {
					rep.Status, rep.Reason = StatusUpstreamChanged, "the lock entry did not match the packed files; rewritten"
				}
			}
			rep.Digest = e.Digest
			byName[e.Name] = e
		}
		res.Weights = append(res.Weights, rep)
	}
	configured := map[string]bool{}
	for _, w := range opts.Config.Weights {
		configured[w.Name] = true
		if e, ok := byName[w.Name]; ok {
			newLock.Weights = append(newLock.Weights, e)
		} else if old := oldByName[w.Name]; old != nil {
			newLock.Weights = append(newLock.Weights, canonicalLockWeight(*old))
		}
	}
	for _, old := range lock.Weights {
		if !configured[old.Name] {
			if len(opts.Names) > 0 {
				newLock.Weights = append(newLock.Weights, canonicalLockWeight(old))
				continue
			}
			res.Weights = append(res.Weights, WeightReport{Name: old.Name, Status: StatusRemoved,
				Reason: "not in cog.yaml any more; dropped from weights.lock"})
		}
	}
	if opts.DryRun {
		return res, nil
	}
	b, err := encodeLock(newLock)
	if err != nil {
		return nil, err
	}
	// Compare canonical forms: a lock written by Cog (no trailing newline)
	// or reformatted by hand is not rewritten unless its content changed.
	oldCanon, err := encodeLock(lock)
	if err != nil {
		return nil, err
	}
	if oldBytes == nil || string(b) != string(oldCanon) {
		if err := atomicfile.WriteFile(opts.LockPath, b, 0o644); err != nil {
			return nil, nospace.Explain(fmt.Errorf("write %s: %w", opts.LockPath, err), opts.LockPath, "delete what is not needed on it")
		}
		res.LockWritten = true
	}
	return res, nil
}

func selectWeights(all []config.Weight, names []string) ([]config.Weight, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []config.Weight
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		i := slices.IndexFunc(all, func(w config.Weight) bool { return w.Name == n })
		if i < 0 {
			known := make([]string, len(all))
			for k, w := range all {
				known[k] = w.Name
			}
			return nil, fmt.Errorf("no weight named %q in cog.yaml (weights: %s)", n, strings.Join(known, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// list lists, filters and merges the weight's sources.
func (j *weightJob) list(ctx context.Context, st *store.Store, projectDir string) error {
	if len(j.w.Sources) == 0 {
		return fmt.Errorf("no source")
	}
	merged := map[string]*srcFile{}
	from := map[string]int{}
	for i, src := range j.w.Sources {
		l, err := listSource(ctx, st, projectDir, src, j.old, i)
		if err != nil {
			return err
		}
		if len(l.files) == 0 {
			return fmt.Errorf("source %s holds no files", src.URI)
		}
		j.sources = append(j.sources, l)
		f := newFilter(src.Include, src.Exclude)
		kept := 0
		for _, sf := range l.files {
			if !f.keep(sf.Path) {
				continue
			}
			kept++
			if prev, ok := from[sf.Path]; ok {
				j.notices = append(j.notices, fmt.Sprintf("%s: taken from source %d (%s), replacing source %d (%s)", sf.Path, i+1, l.uri, prev+1, j.sources[prev].uri))
			}
			merged[sf.Path] = sf
			from[sf.Path] = i
		}
		if kept == 0 {
			return fmt.Errorf("source %s: include %q / exclude %q leave none of its %d files; fix the patterns in cog.yaml", src.URI, src.Include, src.Exclude, len(l.files))
		}
	}
	for _, sf := range merged {
		j.files = append(j.files, sf)
	}
	slices.SortFunc(j.files, func(a, b *srcFile) int { return strings.Compare(a.Path, b.Path) })
	return nil
}

func fileList(fs []*srcFile) []pack.File {
	out := make([]pack.File, len(fs))
	for i, f := range fs {
		out[i] = f.File
	}
	return out
}

// reuseLayers takes layer digests from the lock for planned layers whose
// files (path, size, digest) are exactly those of a locked layer: packing
// is deterministic, so their bytes would be the same.
func (j *weightJob) reuseLayers() {
	if j.old == nil {
		return
	}
	lockFiles := map[string]config.LockFile{}
	perLayer := map[string]int{}
	for _, f := range j.old.Files {
		lockFiles[f.Path] = f
		perLayer[f.Layer]++
	}
	lockLayers := map[string]config.LockLayer{}
	for _, l := range j.old.Layers {
		lockLayers[l.Digest] = l
	}
	digestOf := map[string]string{} // plan entries were copied before hashing
	for _, f := range j.files {
		digestOf[f.Path] = f.Digest
	}
	for i, lp := range j.plan {
		if j.layers[i].Digest != "" {
			continue
		}
		layer := ""
		ok := true
		for _, f := range lp.Files {
			f.Digest = digestOf[f.Path]
			lf, found := lockFiles[f.Path]
			if !found || f.Digest == "" || lf.Digest != f.Digest || lf.Size != f.Size || (layer != "" && lf.Layer != layer) {
				ok = false
				break
			}
			layer = lf.Layer
		}
		ll, found := lockLayers[layer]
		if !ok || !found || perLayer[layer] != len(lp.Files) || ll.MediaType != lp.MediaType {
			continue
		}
		j.layers[i] = pack.PackedLayer{Digest: ll.Digest, MediaType: ll.MediaType, Size: ll.Size, SizeUncompressed: ll.SizeUncompressed}
	}
}

// layerKey names the packing of lp's files (every digest known) in the
// store's layer memo; "" when a digest is unknown.
func layerKey(envelope string, lp pack.LayerPlan, digests []string) string {
	files := slices.Clone(lp.Files)
	for i := range files {
		if files[i].Digest = digests[i]; files[i].Digest == "" {
			return ""
		}
	}
	return "layer\n" + envelope + "\n" + lp.MediaType + "\n" + pack.SetDigest(files)
}

// recallLayers takes, from the store's layer memo, planned layers that an
// earlier (interrupted) run packed from files that are unchanged since:
// their digests came from the stat cache. A gzip layer counts only while
// its blob is in the store.
func (j *weightJob) recallLayers(st *store.Store, envelope string) {
	digestOf := map[string]string{}
	for _, f := range j.files {
		digestOf[f.Path] = f.Digest
	}
	for i, lp := range j.plan {
		if j.layers[i].Digest != "" {
			continue
		}
		digests := make([]string, len(lp.Files))
		for k, f := range lp.Files {
			digests[k] = digestOf[f.Path]
		}
		key := layerKey(envelope, lp, digests)
		var l pack.PackedLayer
		if key == "" || !st.RecallLayer(key, &l) || l.MediaType != lp.MediaType || l.SizeUncompressed != lp.UncompressedSize() {
			continue
		}
		if lp.Gzip() && !st.Has(l.Digest) {
			continue
		}
		j.layers[i] = l
	}
}

// runWork reads what must be read, largest work first across all cores:
// layers to pack (hashing their files on the way) and files that only
// need a digest.
func runWork(ctx context.Context, st *store.Store, jobs []*weightJob, dryRun bool, progress io.Writer, tty bool) error {
	type task struct {
		cost int64
		step *weightStep
		run  func(ctx context.Context) error
	}
	var tasks []task
	var total int64
	pr := &progressMeter{w: progress, tty: tty}
	var caches []*store.StatCache
	seenCache := map[*store.StatCache]bool{}
	addCache := func(c *store.StatCache) {
		if c != nil && !seenCache[c] {
			seenCache[c] = true
			caches = append(caches, c)
		}
	}
	inLayer := map[*srcFile]bool{}
	for _, j := range jobs {
		step := &weightStep{name: j.w.Name}
		byPath := map[string]*srcFile{}
		for _, f := range j.files {
			byPath[f.Path] = f
		}
		if !dryRun {
			for i := range j.plan {
				if j.layers[i].Digest != "" {
					continue
				}
				j, i := j, i
				lp := j.plan[i]
				for _, f := range lp.Files {
					inLayer[byPath[f.Path]] = true
					addCache(byPath[f.Path].sc)
				}
				cost := lp.UncompressedSize()
				total += cost
				if lp.Gzip() {
					cost *= 8 // deflate is far slower than sha256
				}
				step.files += len(lp.Files)
				step.bytes += lp.UncompressedSize()
				step.layers++
				step.tasks++
				tasks = append(tasks, task{cost: cost, step: step, run: func(ctx context.Context) error {
					return packOne(ctx, st, j, i, byPath, pr)
				}})
			}
		}
		included := map[*srcFile]bool{}
		for _, f := range j.files {
			included[f] = true
		}
		for _, l := range j.sources {
			for _, f := range l.files {
				if f.Digest != "" || inLayer[f] || (!l.local && !included[f]) {
					continue
				}
				inLayer[f] = true // schedule once even if listed by two weights
				addCache(f.sc)
				f := f
				total += f.Size
				step.files++
				step.bytes += f.Size
				step.tasks++
				tasks = append(tasks, task{cost: f.Size, step: step, run: func(ctx context.Context) error {
					return hashOne(ctx, f, pr)
				}})
			}
		}
		step.left.Store(int32(step.tasks))
	}
	if len(tasks) == 0 {
		return nil
	}
	slices.SortStableFunc(tasks, func(a, b task) int {
		switch {
		case a.cost > b.cost:
			return -1
		case a.cost < b.cost:
			return 1
		}
		return 0
	})
	pr.start(total)
	defer pr.stop()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, t := range tasks {
		g.Go(func() error {
			t.step.begin(pr)
			if err := t.run(gctx); err != nil {
				return err
			}
			t.step.finish(pr)
			return nil
		})
	}
	err := g.Wait()
	for _, c := range caches {
		if serr := c.Save(); serr != nil && err == nil {
			err = fmt.Errorf("save stat cache: %w", serr)
		}
	}
	return err
}

// packOne builds one layer. gzip layers go into the content store as they
// are written (they cost CPU to reproduce); raw layers are re-streamed
// from the user's files when published, so only their digest is kept.
func packOne(ctx context.Context, st *store.Store, j *weightJob, i int, byPath map[string]*srcFile, pr *progressMeter) error {
	lp := j.plan[i]
	start := time.Now()
	open := func(ctx context.Context, f pack.File) (io.ReadCloser, error) {
		r, err := byPath[f.Path].open(ctx)
		if err != nil {
			return nil, err
		}
		return pr.reader(r), nil
	}
	var sink io.Writer = io.Discard
	var in *store.Ingest
	if lp.Gzip() {
		var err error
		if in, err = st.NewIngest(); err != nil {
			return err
		}
		defer in.Abort()
		sink = in
	}
	// The plan carries no expected digests: packing is what computes them.
	res, err := pack.WriteLayer(ctx, pack.LayerPlan{Files: stripDigests(lp.Files), MediaType: lp.MediaType}, open, sink)
	if err != nil {
		return fmt.Errorf("weight %q: %w", j.w.Name, err)
	}
	for _, f := range lp.Files {
		if err := byPath[f.Path].unchanged(); err != nil {
			return fmt.Errorf("weight %q: %w", j.w.Name, err)
		}
	}
	if in != nil {
		if _, err := in.Commit(res.Layer.Digest); err != nil {
			return err
		}
	}
	for k, f := range lp.Files {
		sf := byPath[f.Path]
		sf.Digest = res.FileDigests[k]
		sf.sc.Record(sf.Path, sf.stat, sf.Digest, start)
	}
	j.layers[i] = res.Layer
	j.packed.Add(1)
	if key := layerKey(j.envelope, lp, res.FileDigests); key != "" {
		st.RememberLayer(key, res.Layer)
	}
	return nil
}

func stripDigests(fs []pack.File) []pack.File {
	out := slices.Clone(fs)
	for i := range out {
		out[i].Digest = ""
	}
	return out
}

// hashOne computes the digest of a file that is not being packed.
func hashOne(ctx context.Context, f *srcFile, pr *progressMeter) error {
	start := time.Now()
	r, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	d, n, err := pack.HashReader(ctxio.Reader(ctx, pr.reader(r)))
	if err != nil {
		return fmt.Errorf("read %s: %w", f.abs, err)
	}
	if n != f.Size {
		return fmt.Errorf("%s changed size while being read (%d, then %d bytes); run `cog-frontend weights import` again once nothing writes to it", f.abs, f.Size, n)
	}
	if err := f.unchanged(); err != nil {
		return err
	}
	f.Digest = d
	f.sc.Record(f.Path, f.stat, d, start)
	return nil
}

// report computes the status of a weight after all digests are known.
func (j *weightJob) report(envelopeChanged bool, drift *config.DriftItem) WeightReport {
	if j.err != nil {
		return WeightReport{Name: j.w.Name, Status: StatusSourceError, Reason: j.err.Error()}
	}
	files := fileList(j.files)
	r := WeightReport{Name: j.w.Name, Files: len(files), Layers: len(j.plan), PackedLayers: int(j.packed.Load()), SetDigest: pack.SetDigest(files), Notices: j.notices}
	for _, f := range files {
		r.Size += f.Size
	}
	o := j.old
	switch {
	case o == nil:
		r.Status, r.Reason = StatusNew, "not in weights.lock yet"
	case drift != nil:
		r.Status, r.Reason = StatusConfigChanged, strings.Join(drift.Changes, "; ")
	case envelopeChanged:
		r.Status, r.Reason = StatusConfigChanged, "packing format (envelopeFormat) changed"
	case !sameFingerprints(o.Sources, j.lockSources()) || o.SetDigest != r.SetDigest || !sameFiles(o.Files, files):
		r.Status, r.Reason = StatusUpstreamChanged, "source files changed"
	default:
		r.Status = StatusUnchanged
	}
	return r
}

func (j *weightJob) lockSources() []config.LockSource {
	out := make([]config.LockSource, len(j.w.Sources))
	for i, s := range j.w.Sources {
		out[i] = config.LockSource{URI: j.sources[i].uri, Fingerprint: j.sources[i].fingerprint(),
			Include: nonNil(s.Include), Exclude: nonNil(s.Exclude)}
	}
	return out
}

func sameFingerprints(a, b []config.LockSource) bool {
	return slices.EqualFunc(a, b, func(x, y config.LockSource) bool { return x.Fingerprint == y.Fingerprint })
}

func sameFiles(lf []config.LockFile, fs []pack.File) bool {
	return slices.EqualFunc(lf, fs, func(x config.LockFile, y pack.File) bool {
		return x.Path == y.Path && x.Size == y.Size && x.Digest == y.Digest
	})
}

// entry assembles the lock entry of a fully packed weight.
func (j *weightJob) entry() (config.LockWeight, error) {
	e := config.LockWeight{Name: j.w.Name, Target: j.w.Target, Sources: j.lockSources()}
	files := fileList(j.files)
	e.SetDigest = pack.SetDigest(files)
	layerOf := map[string]string{}
	for i, lp := range j.plan {
		l := j.layers[i]
		if l.Digest == "" {
			return e, fmt.Errorf("internal error: layer %d was not packed", i)
		}
		for _, f := range lp.Files {
			layerOf[f.Path] = l.Digest
		}
		e.Layers = append(e.Layers, config.LockLayer{Digest: l.Digest, MediaType: l.MediaType, Size: l.Size, SizeUncompressed: l.SizeUncompressed})
		e.Size += l.SizeUncompressed
		e.SizeCompressed += l.Size
	}
	for _, f := range files {
		e.Files = append(e.Files, config.LockFile{Path: f.Path, Size: f.Size, Digest: f.Digest, Layer: layerOf[f.Path]})
	}
	e = canonicalLockWeight(e)
	_, m, err := entryBytes(e)
	if err != nil {
		return e, err
	}
	e.Digest = pack.Digest(m)
	return e, nil
}
