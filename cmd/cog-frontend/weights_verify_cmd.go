package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cog-frontend/cog-frontend/internal/registry"
	"github.com/cog-frontend/cog-frontend/weights"
	"github.com/cog-frontend/cog-frontend/weights/materialize"
	"github.com/cog-frontend/cog-frontend/weights/pull"
)

func init() { weightsSubcommands = append(weightsSubcommands, newWeightsVerifyCmd) }

func newWeightsVerifyCmd(pf *projectFlags) *cobra.Command {
	var asJSON bool
	var ref, hostsDir string
	c := &cobra.Command{
		Use:   "verify [ROOT|DIR] [--ref REF|oci-layout://DIR[:TAG]]",
		Short: "Recompute materialized weights and report each as ok, missing or changed",
		Long: `Verify hashes the files a weights pull placed under ROOT (default .), or
in one weight directory DIR, and compares them with what was delivered (the
file list in each .cog/ready marker). Each weight is ok, missing (no ready
marker: not pulled, in progress, or failed) or changed, with the first
differing file. In a project (./cog.yaml with a weights.lock), each weight
of the lock is also expected at ROOT/<target> in its locked version: one
not delivered is missing, one holding another set digest is changed. With
--ref the weights of that bundle (or weight manifest) are expected instead
of the lock's. The exit code is 1 unless every weight is ok.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			root := "."
			if len(args) == 1 {
				root = args[0]
			}
			abs, err := filepath.Abs(root)
			if err != nil {
				return err
			}
			var exp []materialize.Expected
			if ref != "" {
				exp, err = expectedOfRef(c.Context(), abs, ref, hostsDir)
			} else {
				exp, err = expectedUnder(abs, pf)
			}
			if err != nil {
				return err
			}
			bad := 0
			var checks []materialize.Check
			for _, e := range exp {
				ch := materialize.Verify(e)
				if ch.Status != materialize.StatusOK {
					bad++
				}
				checks = append(checks, ch)
			}
			if asJSON {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(checks); err != nil {
					return err
				}
			} else {
				for _, ch := range checks {
					line := fmt.Sprintf("%-16s %-8s %s", ch.Name, ch.Status, ch.Place)
					if ch.File != "" {
						line += ": " + ch.File
					}
					if ch.Why != "" {
						line += " (" + ch.Why + ")"
					}
					fmt.Fprintln(c.OutOrStdout(), line)
				}
			}
			if bad > 0 {
				return fmt.Errorf("%s not ok; to repair one, remove its directory (or its .cog/ready marker) and pull again", plural(bad, "weight"))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&ref, "ref", "", "expect the weights of this bundle or weight manifest")
	c.Flags().StringVar(&hostsDir, "hosts-dir", os.Getenv("COG_HOSTS_DIR"), "registry mirror config for --ref (as for pull)")
	return c
}

// expectedOfRef is what root should hold to deliver the weights of ref.
func expectedOfRef(ctx context.Context, root, ref, hostsDir string) ([]materialize.Expected, error) {
	client := &registry.Client{Hosts: registryHosts}
	src, id, err := pullSource(ctx, client, hostsDir, ref)
	if err != nil {
		return nil, err
	}
	ws, err := pull.Resolve(ctx, src, id, nil)
	if err != nil {
		return nil, err
	}
	p := &materialize.Placer{Root: root}
	var exp []materialize.Expected
	for _, w := range ws {
		var files []materialize.ReadyFile
		for _, f := range w.Files {
			files = append(files, materialize.ReadyFile{Path: f.Path, Size: f.Size, Digest: f.Digest})
		}
		if w.Format == pull.FormatV0 {
			exp = append(exp, materialize.Expected{Name: w.Name, Root: root, Marker: filepath.Join(p.Markers(w), materialize.MarkerReady), Files: files})
			continue
		}
		exp = append(exp, materialize.ForWeight(root, w.Name, w.Target, w.SetDigest, files))
	}
	return exp, nil
}

// expectedUnder is what root should hold: the weights of the project's
// lock (if there is a project), then every other delivered weight found
// by its ready marker.
func expectedUnder(root string, pf *projectFlags) ([]materialize.Expected, error) {
	var exp []materialize.Expected
	seen := map[string]bool{}
	if p, err := loadProject(*pf.Dir, *pf.File, *pf.Lock); err == nil {
		if lock, err := weights.LoadLock(p.LockPath); err == nil {
			for _, w := range lock.Weights {
				var files []materialize.ReadyFile
				for _, f := range w.Files {
					files = append(files, materialize.ReadyFile{Path: f.Path, Size: f.Size, Digest: f.Digest})
				}
				e := materialize.ForWeight(root, w.Name, w.Target, w.SetDigest, files)
				seen[e.Marker] = true
				exp = append(exp, e)
			}
		}
	}
	found, err := materialize.Delivered(root)
	if err != nil && len(exp) == 0 {
		return nil, err
	}
	for _, e := range found {
		if !seen[e.Marker] {
			exp = append(exp, e)
		}
	}
	return exp, nil
}
