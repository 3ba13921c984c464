package main

// The weights subcommands: import (write/refresh weights.lock) and status
// (compare cog.yaml, weights.lock and the files on disk).

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cog-frontend/cog-frontend/weights"
)

func init() { register(newWeightsCmd) }

func newWeightsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "weights",
		Short: "Manage the weights of cog.yaml and their weights.lock",
	}
	var file, dir, lock string
	cmd.PersistentFlags().StringVarP(&file, "file", "f", "", "path to cog.yaml (default: ./cog.yaml)")
	cmd.PersistentFlags().StringVar(&dir, "project", ".", "project directory; relative weight sources resolve against it")
	cmd.PersistentFlags().StringVar(&lock, "weights-lock", "", "path to weights.lock (default: next to cog.yaml)")

	var dryRun bool
	imp := &cobra.Command{
		Use:   "import [NAME...]",
		Short: "Hash and pack the weights of cog.yaml and write weights.lock",
		Long: `Import reads each weight's sources, packs its files the way Cog does and
records files, layers and digests in weights.lock. Files unchanged since the
last import (same size, mtime, ctime and inode) are not read again, and the
lockfile is rewritten only when something changed. With NAME arguments only
those weights are imported. --dry-run prints the plan and writes nothing.`,
		RunE: func(c *cobra.Command, args []string) error {
			p, err := loadProject(dir, file, lock)
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			res, err := weights.Import(c.Context(), weights.ImportOptions{
				ProjectDir: p.Dir, Config: p.Config, LockPath: p.LockPath,
				Names: args, DryRun: dryRun, Progress: c.ErrOrStderr(),
			})
			if err != nil {
				return err
			}
			printReports(out, res.Weights, !dryRun)
			switch {
			case dryRun:
				fmt.Fprintln(out, "dry run: weights.lock not written")
			case res.LockWritten:
				fmt.Fprintf(out, "wrote %s\n", res.LockPath)
			default:
				fmt.Fprintf(out, "%s is up to date\n", res.LockPath)
			}
			return nil
		},
	}
	imp.Flags().BoolVar(&dryRun, "dry-run", false, "print what would change; write nothing")

	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Compare cog.yaml, weights.lock and the weight files on disk",
		Long: `Status reports, per weight, whether weights.lock is current: new (not
imported yet), unchanged, config-changed (target, source or patterns edited in
cog.yaml), upstream-changed (source files differ from the lock) or removed
(in the lock only). It hashes only files whose stat changed since they were
last hashed. Comparing against a registry is not implemented yet.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := loadProject(dir, file, lock)
			if err != nil {
				return err
			}
			res, err := weights.Import(c.Context(), weights.ImportOptions{
				ProjectDir: p.Dir, Config: p.Config, LockPath: p.LockPath, DryRun: true, Progress: c.ErrOrStderr(),
			})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					LockPath string                 `json:"lockPath"`
					Weights  []weights.WeightReport `json:"weights"`
				}{res.LockPath, res.Weights})
			}
			printReports(c.OutOrStdout(), res.Weights, false)
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(imp, status)
	return cmd
}

func printReports(w io.Writer, reps []weights.WeightReport, packed bool) {
	for _, r := range reps {
		line := fmt.Sprintf("%-20s %-16s", r.Name, r.Status)
		if r.Status != weights.StatusRemoved {
			line += fmt.Sprintf(" %d files, %s, %d layers", r.Files, humanBytes(r.Size), r.Layers)
			if packed {
				line += fmt.Sprintf(" (%d packed now)", r.PackedLayers)
			}
		}
		if r.Reason != "" {
			line += " - " + r.Reason
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		for _, n := range r.Notices {
			fmt.Fprintln(w, "  notice:", n)
		}
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
