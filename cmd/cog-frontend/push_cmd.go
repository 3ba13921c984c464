package main

import (
	"github.com/spf13/cobra"
)

func init() { register(newPushCmd) }

func newPushCmd() *cobra.Command {
	f := &buildFlags{}
	c := &cobra.Command{
		Use:   "push [REF]",
		Short: "Build the model and push the bundle (index, image, weights) to a registry",
		Long: `Push builds like "build" and pushes the bundle to REF (default: cog.yaml's
model: with a UTC YYYYMMDDTHHMMSSZ tag). The index goes to REF, the image to
cog-image.<tag>, each weight to cog-weight.<name>.<set digest prefix>. Blobs the
registry already has are not uploaded; weight bytes go from the local store or
your files straight to the registry in resumable chunks. It prints the tree of
what was pushed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadProject(".", f.file, f.weightsLock)
			if err != nil {
				return err
			}
			ref := ""
			if len(args) == 1 {
				ref = args[0]
			} else if ref, err = p.defaultRef(); err != nil {
				return err
			}
			if _, err := parseTagRef(ref); err != nil {
				return err
			}
			f.push, f.tag = true, ref
			return runBuild(cmd, ".", f)
		},
	}
	addBuildFlags(c, f)
	return annotate(c, "Run it again to continue: blobs already in the registry are not sent again, and an interrupted upload resumes where it stopped.")
}
