package main

// The weights subcommands: import (write/refresh weights.lock) and status
// (compare cog.yaml, weights.lock, the files on disk and the registry).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/cog-frontend/cog-frontend/weights"
	"github.com/cog-frontend/cog-frontend/wire"
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
				Names: args, DryRun: dryRun, Progress: c.ErrOrStderr(), ProgressTTY: isTerminal(c.ErrOrStderr()),
			})
			if err != nil {
				return err
			}
			printReports(out, res.Weights, !dryRun)
			switch {
			case dryRun:
				fmt.Fprintln(out, "dry run: weights.lock not written")
				// The import itself would stop at a source it cannot read.
				for _, r := range res.Weights {
					if r.Status == weights.StatusSourceError {
						return fmt.Errorf("weight %q: %s; fix the source in %s, then run `cog-frontend weights import`", r.Name, r.Reason, p.File)
					}
				}
			case res.LockWritten:
				fmt.Fprintf(out, "wrote %s\n", res.LockPath)
			default:
				fmt.Fprintf(out, "%s is up to date\n", res.LockPath)
			}
			return nil
		},
	}
	annotate(imp, "weights.lock was not changed. Run it again to continue: layers packed before the interrupt are not packed again.")
	imp.Flags().BoolVar(&dryRun, "dry-run", false, "print what would change; write nothing")

	var asJSON bool
	var regOpts registryOpts
	status := &cobra.Command{
		Use:   "status",
		Short: "Compare cog.yaml, weights.lock and the weight files on disk",
		Long: `Status reports, per weight, whether weights.lock is current: new (not
imported yet), unchanged, config-changed (target, source or patterns edited in
cog.yaml), upstream-changed (source files differ from the lock) or removed
(in the lock only). It hashes only files whose stat changed since they were
last hashed.

It then asks the registry which of each locked weight's layers, config blob
and manifest (by digest and by its cog-weight.<name>.<set digest> tag) are
already there, and how many bytes a push would upload. The repository is
cog.yaml's model:, or --registry-repo; --no-registry skips the check. HEAD
requests only, with credentials from the Docker config; loopback registries
are spoken to over plain HTTP. An unreachable registry or refused
credentials is reported on its own line; the exit code does not change.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := loadProject(dir, file, lock)
			if err != nil {
				return err
			}
			if regOpts.Repo != "" && !regOpts.Skip {
				// Bad input fails before any work is done.
				if _, err := weights.ParseRepository(regOpts.Repo); err != nil {
					return fmt.Errorf("--registry-repo: %w", err)
				}
			}
			res, err := weights.Import(c.Context(), weights.ImportOptions{
				ProjectDir: p.Dir, Config: p.Config, LockPath: p.LockPath, DryRun: true, Progress: c.ErrOrStderr(), ProgressTTY: isTerminal(c.ErrOrStderr()),
			})
			if err != nil {
				return err
			}
			reg, err := registryStatus(c.Context(), p, regOpts)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					LockPath string                  `json:"lockPath"`
					Weights  []weights.WeightReport  `json:"weights"`
					Registry *weights.RegistryReport `json:"registry"`
				}{res.LockPath, res.Weights, reg})
			}
			printReports(c.OutOrStdout(), res.Weights, false)
			printRegistry(c.OutOrStdout(), reg)
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	status.Flags().StringVar(&regOpts.Repo, "registry-repo", "", "repository to compare with (default: cog.yaml's model:)")
	status.Flags().BoolVar(&regOpts.Skip, "no-registry", false, "do not ask a registry")
	status.Flags().DurationVar(&regOpts.Timeout, "registry-timeout", weights.DefaultProbeTimeout, "give up on the registry after this long")
	cmd.AddCommand(imp, status)
	for _, f := range weightsSubcommands {
		cmd.AddCommand(f(&projectFlags{File: &file, Dir: &dir, Lock: &lock}))
	}
	return cmd
}

// projectFlags are the weights command's persistent flags, for
// subcommands defined in other files.
type projectFlags struct{ File, Dir, Lock *string }

// weightsSubcommands is filled by the init functions of the weights_*_cmd.go
// files.
var weightsSubcommands []func(*projectFlags) *cobra.Command

func printReports(w io.Writer, reps []weights.WeightReport, packed bool) {
	for _, r := range reps {
		line := fmt.Sprintf("%-20s %-16s", r.Name, r.Status)
		if r.Status != weights.StatusRemoved && r.Status != weights.StatusSourceError {
			line += fmt.Sprintf(" %d files, %s, %d layers", r.Files, units.BytesSize(float64(r.Size)), r.Layers)
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

// registryOpts are the registry flags of `weights status`.
type registryOpts struct {
	Repo    string
	Skip    bool
	Timeout time.Duration
}

// registryStatus compares the lock with the registry repository named by
// --registry-repo or cog.yaml's model:. Only a cancelled context is an
// error: skipping or a registry failure is part of the report.
func registryStatus(ctx context.Context, p *project, o registryOpts) (*weights.RegistryReport, error) {
	repoStr := o.Repo
	if repoStr == "" {
		repoStr = p.Config.Model
	}
	switch {
	case o.Skip:
		return &weights.RegistryReport{Repository: repoStr, Skipped: "--no-registry", Weights: []weights.WeightRegistryReport{}}, nil
	case repoStr == "":
		return &weights.RegistryReport{Skipped: "no model: in " + p.File + " and no --registry-repo", Weights: []weights.WeightRegistryReport{}}, nil
	}
	repo, err := weights.ParseRepository(repoStr)
	if err != nil {
		return &weights.RegistryReport{Repository: repoStr, Error: "model: in " + p.File + ": " + err.Error(), Weights: []weights.WeightRegistryReport{}}, nil
	}
	lock, err := weights.LoadLock(p.LockPath)
	if err != nil {
		return nil, err
	}
	rep, err := weights.CheckRegistry(ctx, lock, repo, wire.WeightTag, weights.ProbeOptions{Timeout: o.Timeout, Hosts: registryHosts})
	if err != nil {
		return nil, err
	}
	return &rep, nil
}

// printRegistry prints the registry part of `weights status`.
func printRegistry(w io.Writer, r *weights.RegistryReport) {
	switch {
	case r.Skipped != "":
		fmt.Fprintf(w, "registry: not checked (%s)\n", r.Skipped)
		return
	case r.Error != "":
		fmt.Fprintf(w, "registry: not compared: %s\n", r.Error)
		return
	}
	fmt.Fprintf(w, "registry %s:\n", r.Repository)
	for _, x := range r.Weights {
		if x.Error != "" {
			fmt.Fprintf(w, "  %-18s %s\n", x.Name, x.Error)
			continue
		}
		noun := "layers"
		if x.Layers == 1 {
			noun = "layer"
		}
		layers := fmt.Sprintf("all %d %s present", x.Layers, noun)
		if x.LayersMissing > 0 {
			layers = fmt.Sprintf("%d/%d %s present, %d missing", x.LayersPresent, x.Layers, noun, x.LayersMissing)
		}
		manifest := "manifest missing"
		if x.ManifestPresent {
			manifest = "manifest present"
		}
		tag := "tag " + x.Tag
		switch {
		case x.TagPresent:
			tag += " present"
		case x.TagDigest != "":
			tag += " points at " + x.TagDigest + " (not the locked manifest)"
		default:
			tag += " missing"
		}
		up := "up to date"
		if !x.Complete() {
			up = units.BytesSize(float64(x.BytesToUpload)) + " to upload"
		}
		fmt.Fprintf(w, "  %-18s %s, config %s, %s, %s - %s\n", x.Name, layers, presence(x.ConfigPresent), manifest, tag, up)
	}
}

func presence(ok bool) string {
	if ok {
		return "present"
	}
	return "missing"
}
