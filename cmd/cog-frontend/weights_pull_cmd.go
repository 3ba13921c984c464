package main

// weights pull: deliver weights from a registry or an OCI layout into the
// content store and, with --dest, into place with readiness markers.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/exporter"
	"github.com/cog-frontend/cog-frontend/internal/registry"
	"github.com/cog-frontend/cog-frontend/weights"
	"github.com/cog-frontend/cog-frontend/weights/materialize"
	"github.com/cog-frontend/cog-frontend/weights/pull"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

func init() { weightsSubcommands = append(weightsSubcommands, newWeightsPullCmd) }

type pullOpts struct {
	maxStore string
	hostsDir string
	dest     string
	jobs     int
	asJSON   bool
	stall    time.Duration
}

func newWeightsPullCmd(pf *projectFlags) *cobra.Command {
	var o pullOpts
	c := &cobra.Command{
		Use:   "pull [REF|oci-layout://DIR[:TAG]] [NAME...] [--dest ROOT]",
		Short: "Download weights into the content store and, with --dest, into place",
		Long: `Pull downloads the weights of a bundle (REG/REPO:TAG, REG/REPO@sha256:...),
of one weight manifest (by digest or by its cog-weight.<name>.<hex> tag), or,
with no REF, the weights of ./cog.yaml + weights.lock from the repository
named by model:. The first argument is a REF when it contains '/', ':' or
'@'; otherwise every argument names a weight to select.

Files go to the local content store (COG_CACHE_DIR, shared with weights
import), each under its own digest, and a file already there is not
downloaded again. Every layer digest and every file digest is checked while
the bytes stream in. An interrupted download keeps what arrived and
continues from there on the next run.

With --dest ROOT each weight is placed at ROOT/<target> as hard links into
the store (copies across file systems), with <target>/.cog/downloading
first and <target>/.cog/ready last, or <target>/.cog/failed holding the
error. A target already ready with the same set digest is left alone; one
holding another version is swapped for the new one in a single rename.
February 2026 bundles place each file at ROOT/<dest> and keep their markers
in ROOT/.cog/bundle-v0/<weights manifest hex>/.`,
		RunE: func(c *cobra.Command, args []string) error {
			return runPull(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), pf, args, o)
		},
	}
	c.Flags().StringVar(&o.dest, "dest", "", "materialize each weight at ROOT/<target>")
	c.Flags().IntVar(&o.jobs, "jobs", pull.DefaultJobs, "layers to download at once")
	c.Flags().BoolVar(&o.asJSON, "json", false, "print progress and results as JSON lines")
	c.Flags().StringVar(&o.maxStore, "max-store-size", os.Getenv("COG_STORE_MAX_SIZE"), "after the pull, prune unreferenced blobs, least recently used first, until the store is at most SIZE (default $COG_STORE_MAX_SIZE)")
	c.Flags().StringVar(&o.hostsDir, "hosts-dir", os.Getenv("COG_HOSTS_DIR"), "containerd-style registry mirror config: DIR/<registry>/hosts.toml (default $COG_HOSTS_DIR)")
	c.Flags().DurationVar(&o.stall, "stall-timeout", registry.DefaultStallTimeout, "retry a transfer that moves no bytes for this long")
	return annotate(c, "Run it again to continue: files already verified are kept, and an interrupted download resumes where it stopped.")
}

// isRef tells a REF from a weight name: names never hold '/', ':' or '@'.
func isRef(s string) bool { return strings.ContainsAny(s, "/:@") }

func runPull(ctx context.Context, stdout, stderr io.Writer, pf *projectFlags, args []string, o pullOpts) error {
	dir, err := store.DefaultDir()
	if err != nil {
		return err
	}
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	maxStore := int64(-1)
	if o.maxStore != "" {
		if maxStore, err = units.FromHumanSize(o.maxStore); err != nil {
			return fmt.Errorf("--max-store-size %q: %w", o.maxStore, err)
		}
	}
	client := &registry.Client{Hosts: registryHosts, StallTimeout: o.stall}
	var (
		src   pull.Source
		ws    []pull.Weight
		names = args
	)
	if len(args) > 0 && isRef(args[0]) {
		ref := args[0]
		names = args[1:]
		var root string
		src, root, err = pullSource(ctx, client, o.hostsDir, ref)
		if err != nil {
			return err
		}
		ws, err = pull.Resolve(ctx, src, root, names)
		if err != nil {
			return err
		}
	} else {
		src, ws, err = lockWeights(ctx, client, o.hostsDir, pf, names)
		if err != nil {
			return err
		}
	}
	out := newPullPrinter(stdout, stderr, o.asJSON)
	f := &pull.Fetcher{Store: st, Source: src, Jobs: o.jobs, Events: out.event}
	var p *materialize.Placer
	if o.dest != "" {
		abs, err := filepath.Abs(o.dest)
		if err != nil {
			return err
		}
		p = &materialize.Placer{Store: st, Root: abs, Notify: out.notice}
		if err := st.AddRoot(abs); err != nil {
			return err
		}
	}
	// Held while files are in the store but not yet linked: a prune waits.
	unlock, err := st.UseLock(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	res := materialize.Deliver(ctx, f, p, ws)
	unlock()
	if err := out.results(res, &f.Stats, time.Since(start)); err != nil {
		return err
	}
	if maxStore >= 0 {
		return prune(ctx, stderr, st, nil, map[string]bool{}, maxStore, false, false)
	}
	return nil
}

// pullSource opens REF's registry repository or OCI layout and names the
// root to resolve there.
func pullSource(ctx context.Context, client *registry.Client, hostsDir, ref string) (pull.Source, string, error) {
	if _, ok := strings.CutPrefix(ref, "oci-layout://"); ok {
		src, root, err := resolveRoot(ctx, ref)
		if err != nil {
			return nil, "", err
		}
		l, ok := src.(exporter.LayoutSource)
		if !ok {
			return nil, "", fmt.Errorf("%s: not an OCI layout", ref)
		}
		return pull.LayoutSource{Dir: l.Dir}, root.Digest.String(), nil
	}
	r, err := parseRef(ref)
	if err != nil {
		return nil, "", fmt.Errorf("invalid reference %q (want REG/REPO:TAG, REG/REPO@sha256:... or oci-layout://DIR[:TAG]): %w", ref, err)
	}
	repo, err := registry.ParseRepository(r.Context().Name())
	if err != nil {
		return nil, "", err
	}
	src, err := registrySource(client, hostsDir, repo)
	return src, r.Identifier(), err
}

// registrySource is repo, through the mirrors hostsDir configures for its
// registry.
func registrySource(client *registry.Client, hostsDir string, repo name.Repository) (pull.Source, error) {
	hf, err := pull.LoadHosts(hostsDir, repo.RegistryStr())
	if err != nil {
		return nil, err
	}
	return pull.MirrorsFor(client, hf, repo)
}

// lockWeights resolves the weights of ./cog.yaml + weights.lock at the
// repository named by model:.
func lockWeights(ctx context.Context, client *registry.Client, hostsDir string, pf *projectFlags, names []string) (pull.Source, []pull.Weight, error) {
	p, err := loadProject(*pf.Dir, *pf.File, *pf.Lock)
	if err != nil {
		return nil, nil, fmt.Errorf("no REF given, so the weights of cog.yaml are pulled: %w", err)
	}
	if p.Config.Model == "" {
		return nil, nil, fmt.Errorf("%s has no model: to pull from; give a REF", p.File)
	}
	lock, err := weights.LoadLock(p.LockPath)
	if err != nil {
		return nil, nil, err
	}
	lock, err = config.ProjectLock(p.Config, lock, p.LockPath, lock.EnvelopeFormat)
	if err != nil {
		return nil, nil, err
	}
	repo, err := registry.ParseRepository(p.Config.Model)
	if err != nil {
		return nil, nil, fmt.Errorf("model: in %s: %w", p.File, err)
	}
	var digests []string
	for _, w := range lock.Weights {
		digests = append(digests, w.Digest)
	}
	src, err := registrySource(client, hostsDir, repo)
	if err != nil {
		return nil, nil, err
	}
	ws, err := pull.ResolveDigests(ctx, src, digests)
	if err != nil {
		return nil, nil, err
	}
	ws, err = pull.Select(ws, names)
	return src, ws, err
}

// pullPrinter prints progress as plain lines (or JSON lines).
type pullPrinter struct {
	mu       sync.Mutex
	out, err io.Writer
	json     bool
	last     map[string]time.Time
	started  map[string]time.Time

	// On a terminal: one status line, redrawn, with the totals.
	tty      bool
	got      map[string]int64 // bytes received per layer (this run)
	totals   map[string]int64 // bytes to receive per layer (this run)
	kept     map[string]int64 // bytes kept from an earlier run per layer
	begin    time.Time
	drawn    time.Time
	statusOn bool
}

func newPullPrinter(out, err io.Writer, asJSON bool) *pullPrinter {
	p := &pullPrinter{out: out, err: err, json: asJSON, last: map[string]time.Time{}, started: map[string]time.Time{},
		got: map[string]int64{}, totals: map[string]int64{}, kept: map[string]int64{}, begin: time.Now()}
	p.tty = !asJSON && isTerminal(err)
	return p
}

// isTerminal reports whether w is a terminal that can redraw a line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

// status redraws the terminal's status line: bytes so far, rate, ETA.
func (p *pullPrinter) status(total int64, force bool) {
	now := time.Now()
	if !force && now.Sub(p.drawn) < 200*time.Millisecond {
		return
	}
	p.drawn = now
	var got int64
	for _, n := range p.got {
		got += n
	}
	line := "pulling: " + units.BytesSize(float64(got))
	if total > got {
		line += " of " + units.BytesSize(float64(total))
	}
	if el := now.Sub(p.begin).Seconds(); el > 0 && got > 0 {
		rate := float64(got) / el
		line += fmt.Sprintf(", %s/s", units.BytesSize(rate))
		if total > got {
			line += fmt.Sprintf(", %s left", time.Duration(float64(total-got)/rate*float64(time.Second)).Round(time.Second))
		}
	}
	fmt.Fprintf(p.err, "\r\x1b[K%s", line)
	p.statusOn = true
}

func (p *pullPrinter) resumed(layer string) int64 { return p.kept[layer] }

// clearStatus removes the status line before a permanent line.
func (p *pullPrinter) clearStatus() {
	if p.statusOn {
		fmt.Fprint(p.err, "\r\x1b[K")
		p.statusOn = false
	}
}

func (p *pullPrinter) emitJSON(v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintln(p.out, string(b))
}

func (p *pullPrinter) notice(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		p.emitJSON(map[string]string{"event": "notice", "message": s})
		return
	}
	p.clearStatus()
	fmt.Fprintln(p.err, "notice:", s)
}

func (p *pullPrinter) event(e pull.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := e.Layer.String()
	now := time.Now()
	if e.Kind == pull.EventStart || e.Kind == pull.EventResume {
		p.started[key] = now
	}
	if e.Kind == pull.EventResume {
		p.kept[key] = e.Bytes
	}
	if p.tty {
		switch e.Kind {
		case pull.EventProgress, pull.EventDone:
			p.got[key] = e.Bytes - p.resumed(key)
		}
		p.totals[key] = e.Total - p.resumed(key)
		if e.Kind == pull.EventSkip {
			delete(p.totals, key)
		}
		if e.Kind == pull.EventProgress {
			var total int64
			for _, n := range p.totals {
				total += n
			}
			p.status(total, false)
			return
		}
		p.clearStatus()
	} else if e.Kind == pull.EventProgress {
		if now.Sub(p.last[key]) < 2*time.Second {
			return
		}
		p.last[key] = now
	}
	if p.json {
		v := map[string]any{"event": string(e.Kind), "weight": e.Weight, "layer": key, "bytes": e.Bytes, "total": e.Total}
		if e.Err != nil {
			v["error"] = e.Err.Error()
		}
		p.emitJSON(v)
		return
	}
	line := fmt.Sprintf("%-16s %s %-8s", e.Weight, registry.Short(e.Layer), e.Kind)
	switch e.Kind {
	case pull.EventSkip:
		line += " all files already in the store"
	case pull.EventResume:
		line += fmt.Sprintf(" from %s of %s", units.BytesSize(float64(e.Bytes)), units.BytesSize(float64(e.Total)))
	case pull.EventStart:
		line += " " + units.BytesSize(float64(e.Total))
	case pull.EventProgress, pull.EventDone:
		line += fmt.Sprintf(" %s / %s", units.BytesSize(float64(e.Bytes)), units.BytesSize(float64(e.Total)))
		if el := now.Sub(p.started[key]).Seconds(); el > 0 && e.Kind == pull.EventProgress && e.Bytes > 0 {
			rate := float64(e.Bytes) / el
			eta := time.Duration(float64(e.Total-e.Bytes) / rate * float64(time.Second)).Round(time.Second)
			line += fmt.Sprintf(" %s/s, %s left", units.BytesSize(rate), eta)
		}
	case pull.EventFailed:
		line += " " + e.Err.Error()
	}
	fmt.Fprintln(p.err, strings.TrimRight(line, " "))
}

func (p *pullPrinter) results(res []materialize.Result, st *pull.Stats, took time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearStatus()
	failed := 0
	for _, r := range res {
		if r.Outcome == materialize.OutcomeFailed {
			failed++
		}
		if p.json {
			v := map[string]any{"event": "result", "weight": r.Weight.Name, "format": r.Weight.Format, "target": r.Weight.Target,
				"setDigest": r.Weight.SetDigest, "manifest": r.Weight.Manifest.String(), "outcome": string(r.Outcome), "place": r.Place}
			if r.Err != nil {
				v["error"] = r.Err.Error()
			}
			p.emitJSON(v)
			continue
		}
		line := fmt.Sprintf("%-16s %-10s %s", r.Weight.Name, r.Outcome, units.BytesSize(float64(r.Weight.Size())))
		if r.Place != "" {
			line += " at " + r.Place
		}
		if r.Err != nil {
			line += ": " + r.Err.Error()
		}
		fmt.Fprintln(p.out, line)
	}
	if p.json {
		p.emitJSON(map[string]any{"event": "summary", "bytesFetched": st.BytesFetched.Load(), "bytesResumed": st.BytesResumed.Load(),
			"layersFetched": st.LayersFetched.Load(), "layersSkipped": st.LayersSkipped.Load(), "seconds": took.Seconds(), "failed": failed})
	} else {
		fmt.Fprintf(p.out, "fetched %s in %d layer(s), %d layer(s) already in the store, in %s\n",
			units.BytesSize(float64(st.BytesFetched.Load())), st.LayersFetched.Load(), st.LayersSkipped.Load(), took.Round(time.Millisecond))
	}
	if failed > 0 {
		return errors.New(plural(failed, "weight") + " failed; run the pull again to resume")
	}
	return nil
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return fmt.Sprintf("%d %ss", n, s)
}
