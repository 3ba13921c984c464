package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cog-frontend/cog-frontend/frontend"
	"github.com/moby/buildkit/client/llb"
	"github.com/spf13/cobra"
)

func init() { register(newCheckCmd) }

// errFindings makes `check` exit 1 when it found something, as `docker
// buildx build --call check` does; the findings are already printed.
var errFindings = errors.New("check found problems")

func newCheckCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "check [DIR]",
		Short: "Check cog.yaml and the predictor without building (what `docker buildx build --call check -f cog.yaml .` reports)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			n, err := check(cmd.OutOrStdout(), dir, file)
			if err != nil {
				return err
			}
			if n > 0 {
				cmd.SilenceErrors = true
				return errFindings
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Check complete, no warnings found.")
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "path to cog.yaml (default DIR/cog.yaml)")
	return c
}

// check prints the findings of frontend.Check on the project in dir and
// returns how many there are. Files are read from dir, as the build reads
// them from its context.
func check(w io.Writer, dir, file string) (int, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	if file == "" {
		file = filepath.Join(abs, "cog.yaml")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w (run in a Cog project directory or pass -f PATH)", file, err)
	}
	name := file
	if rel, err := filepath.Rel(abs, file); err == nil && !strings.HasPrefix(rel, "..") {
		name = filepath.ToSlash(rel)
	}
	read := func(p string) ([]byte, error) {
		if filepath.IsAbs(p) || strings.HasPrefix(filepath.Clean(p), "..") {
			return nil, fmt.Errorf("%s is outside the project", p)
		}
		return os.ReadFile(filepath.Join(abs, filepath.FromSlash(p)))
	}
	res := frontend.Check(llb.NewSourceMap(nil, name, "YAML", data), read)
	if len(res.Warnings) == 0 {
		return 0, nil
	}
	if err := res.PrintTo(w, nil); err != nil {
		return 0, err
	}
	return len(res.Warnings), nil
}
