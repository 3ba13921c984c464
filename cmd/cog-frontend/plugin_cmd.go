package main

// Docker CLI plugin mode. Installed as ~/.docker/cli-plugins/docker-cog,
// Docker runs `docker-cog docker-cli-plugin-metadata` to list the plugin and
// `docker-cog cog <args>` for `docker cog <args>`. In that mode BuildKit is
// the current buildx builder (BUILDX_BUILDER if set), as for `docker buildx`.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cog-frontend/cog-frontend/internal/atomicfile"
)

const pluginName = "cog"

func init() {
	register(newPluginMetadataCmd)
	register(newInstallPluginCmd)
	if isPluginBinary(os.Args[0]) {
		if len(os.Args) > 1 && os.Args[1] == pluginName {
			os.Args = append([]string{os.Args[0]}, os.Args[2:]...)
		}
		pluginBuilder = os.Getenv("BUILDX_BUILDER")
		// Docker's own convention: the plugin follows the CLI's builder,
		// not BUILDKIT_HOST.
		pluginMode = true
	}
}

// pluginMode is true when running as docker-cog.
var pluginMode bool

func isPluginBinary(arg0 string) bool {
	return strings.TrimSuffix(filepath.Base(arg0), ".exe") == "docker-"+pluginName
}

// pluginMetadata is what the Docker CLI reads from
// `docker-cog docker-cli-plugin-metadata`.
type pluginMetadata struct {
	SchemaVersion    string `json:"SchemaVersion"`
	Vendor           string `json:"Vendor"`
	Version          string `json:"Version"`
	ShortDescription string `json:"ShortDescription"`
	URL              string `json:"URL,omitempty"`
}

func newPluginMetadataCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "docker-cli-plugin-metadata",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "     ")
			return enc.Encode(pluginMetadata{
				SchemaVersion:    "0.1.0",
				Vendor:           "cog-frontend",
				Version:          version,
				ShortDescription: "Build, bundle and publish Cog models with BuildKit",
			})
		},
	}
}

func newInstallPluginCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "install-plugin",
		Short: "Install this binary as the Docker CLI plugin docker-cog (docker cog build|push|bundle|inspect)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				cfg := os.Getenv("DOCKER_CONFIG")
				if cfg == "" {
					home, err := os.UserHomeDir()
					if err != nil {
						return err
					}
					cfg = filepath.Join(home, ".docker")
				}
				dir = filepath.Join(cfg, "cli-plugins")
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if self, err = filepath.EvalSymlinks(self); err != nil {
				return err
			}
			data, err := os.ReadFile(self)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			dst := filepath.Join(dir, "docker-"+pluginName)
			if err := atomicfile.WriteFile(dst, data, 0o755); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed %s; try: docker cog --help\n", dst)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "plugin directory (default $DOCKER_CONFIG/cli-plugins or ~/.docker/cli-plugins)")
	return c
}
