package llb

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/cog-frontend/cog-frontend/config"
)

// requirementName matches the distribution name at the start of a PEP 508
// requirement line.
var requirementName = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)`)

// normalizeName is PEP 503 name normalisation.
func normalizeName(n string) string {
	return nameSeparators.ReplaceAllString(strings.ToLower(n), "-")
}

var nameSeparators = regexp.MustCompile(`[-_.]+`)

// runtimePackages are provided by the cog step and must not be installed
// from the user's requirements (a different version there would replace the
// runtime the image is built for).
var runtimePackages = map[string]bool{"cog": true, "coglet": true}

// torchPackages are the packages whose wheels differ between CPU and CUDA
// builds and therefore come from PyTorch's own index.
var torchPackages = map[string]bool{"torch": true, "torchvision": true, "torchaudio": true}

// requirements is the filtered requirements file the install step uses.
type requirements struct {
	lines    []string
	packages int // lines that name a package (not options)
	hasTorch bool
	warnings []config.Warning
}

// filterRequirements drops cog/coglet lines (with a warning) and notes
// whether torch is pinned. source names where the lines came from for
// messages; keyPath is the cog.yaml key they belong to.
func filterRequirements(cfg *config.Config, keyPath, source string, lines []string) (*requirements, error) {
	r := &requirements{}
	for i, raw := range lines {
		line := strings.TrimSpace(raw)
		if j := strings.Index(line, " #"); j >= 0 {
			line = strings.TrimSpace(line[:j])
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "-") {
			opt := strings.Fields(line)[0]
			switch {
			case opt == "-r" || opt == "-c" || strings.HasPrefix(opt, "--requirement") || strings.HasPrefix(opt, "--constraint"):
				return nil, posErr(cfg, keyPath, "%s line %d: %q includes another file, which is not available to the install step; inline its requirements", source, i+1, line)
			}
			r.lines = append(r.lines, line)
			continue
		}
		m := requirementName.FindString(line)
		name := normalizeName(m)
		if runtimePackages[name] {
			r.warnings = append(r.warnings, warning(cfg, keyPath, fmt.Sprintf("%s line %d: dropped %q: the cog runtime is installed by the build (set build.sdk_version to choose its version)", source, i+1, line)))
			continue
		}
		if torchPackages[name] {
			r.hasTorch = true
		}
		r.packages++
		r.lines = append(r.lines, line)
	}
	return r, nil
}

// hasIndexFor reports whether the user already points pip at url's host.
func (r *requirements) hasIndexFor(host string) bool {
	for _, l := range r.lines {
		if strings.HasPrefix(l, "-") && strings.Contains(l, host) {
			return true
		}
	}
	return false
}

// content is the file the install step reads: one requirement per line;
// nil when nothing is left to install (options alone install nothing).
func (r *requirements) content() []byte {
	if r.packages == 0 {
		return nil
	}
	return []byte(strings.Join(r.lines, "\n") + "\n")
}
