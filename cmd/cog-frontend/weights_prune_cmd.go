package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/cog-frontend/cog-frontend/weights"
	"github.com/cog-frontend/cog-frontend/weights/materialize"
	"github.com/cog-frontend/cog-frontend/weights/store"
)

func init() { weightsSubcommands = append(weightsSubcommands, newWeightsPruneCmd) }

// partialMaxAge: a partial download untouched this long is not going to be
// resumed.
const partialMaxAge = 7 * 24 * time.Hour

type pruneOpts struct {
	roots   []string
	maxSize string
	dryRun  bool
	asJSON  bool
}

func newWeightsPruneCmd(pf *projectFlags) *cobra.Command {
	var o pruneOpts
	c := &cobra.Command{
		Use:   "prune [--root ROOT...] [--max-size SIZE] [--dry-run]",
		Short: "Remove what no materialized weight or weights.lock references from the content store",
		Long: `Prune removes blobs of the content store (COG_CACHE_DIR) that nothing uses:
not hard-linked into a target, not listed by a ready marker under a
destination root (every --dest a pull used is remembered; --root adds more),
and not referenced by ./cog.yaml's weights.lock. With --max-size it keeps a
cache instead: unreferenced blobs are removed least recently used first
until the store is at most SIZE (e.g. 50GB); referenced ones never are.
It waits for running pulls, and pulls wait for it, so it is safe to run at
any time. Ingest files of killed processes and partial downloads older than
a week go too.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			max := int64(-1)
			if o.maxSize != "" {
				n, err := units.FromHumanSize(o.maxSize)
				if err != nil {
					return fmt.Errorf("--max-size %q: %w", o.maxSize, err)
				}
				max = n
			}
			dir, err := store.DefaultDir()
			if err != nil {
				return err
			}
			st, err := store.Open(dir)
			if err != nil {
				return err
			}
			lockRefs := projectLockRefs(pf)
			return prune(c.Context(), c.OutOrStdout(), st, o.roots, lockRefs, max, o.dryRun, o.asJSON)
		},
	}
	c.Flags().StringArrayVar(&o.roots, "root", nil, "a destination root whose weights are in use (repeatable)")
	c.Flags().StringVar(&o.maxSize, "max-size", "", "keep up to SIZE of unreferenced blobs, evicting the least recently used")
	c.Flags().BoolVar(&o.dryRun, "dry-run", false, "print what would be removed")
	c.Flags().BoolVar(&o.asJSON, "json", false, "print JSON")
	return c
}

// projectLockRefs are the file and layer digests of ./cog.yaml's lock, if
// there is one.
func projectLockRefs(pf *projectFlags) map[string]bool {
	refs := map[string]bool{}
	p, err := loadProject(*pf.Dir, *pf.File, *pf.Lock)
	if err != nil {
		return refs
	}
	lock, err := weights.LoadLock(p.LockPath)
	if err != nil {
		return refs
	}
	for _, w := range lock.Weights {
		for _, f := range w.Files {
			refs[f.Digest] = true
		}
		for _, l := range w.Layers {
			refs[l.Digest] = true
		}
	}
	return refs
}

type pruneReport struct {
	Removed      []string `json:"removed"`
	BytesFreed   int64    `json:"bytesFreed"`
	BytesKept    int64    `json:"bytesKept"`
	OverCapBytes int64    `json:"overCapBytes,omitempty"`
	DryRun       bool     `json:"dryRun"`
}

func prune(ctx context.Context, w io.Writer, st *store.Store, roots []string, refs map[string]bool, max int64, dryRun, asJSON bool) error {
	unlock, err := st.PruneLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	for i, r := range roots {
		if abs, err := filepath.Abs(r); err == nil {
			roots[i] = abs
		}
	}
	used, err := materialize.Referenced(append(st.Roots(), roots...))
	if err != nil {
		return err
	}
	for d := range refs {
		used[d] = true
	}
	blobs, err := st.Blobs()
	if err != nil {
		return err
	}
	remove, over := store.PlanPrune(blobs, used, max)
	rep := pruneReport{Removed: []string{}, OverCapBytes: over, DryRun: dryRun}
	gone := map[string]bool{}
	for _, b := range remove {
		if !dryRun {
			if err := st.Remove(b.Digest); err != nil {
				return err
			}
		}
		gone[b.Digest] = true
		rep.Removed = append(rep.Removed, b.Digest)
		rep.BytesFreed += b.Size
	}
	for _, b := range blobs {
		if !gone[b.Digest] {
			rep.BytesKept += b.Size
		}
	}
	if !dryRun {
		n, _ := st.CleanIngests(partialMaxAge)
		rep.BytesFreed += n
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	fmt.Fprintf(w, "%s %d blob(s), %s; %s kept\n", verb, len(rep.Removed), units.BytesSize(float64(rep.BytesFreed)), units.BytesSize(float64(rep.BytesKept)))
	if over > 0 {
		fmt.Fprintf(os.Stderr, "warning: the weights in use need %s more than --max-size\n", units.BytesSize(float64(over)))
	}
	return nil
}
