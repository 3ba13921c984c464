package llb

import (
	"fmt"
	"path"
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
	// local are the project paths of local artifacts (wheels, archives,
	// directories) the lines name, in order, each once; the install step
	// mounts them at LocalRequirementsDir and the lines name them there.
	local []string
}

// LocalRequirementsDir is where the install step mounts the local
// artifacts the requirements name, at their paths in the project.
const LocalRequirementsDir = "/tmp/cog-local-requirements"

// localArtifactSuffixes are the file names pip and uv install as a local
// wheel or source archive.
var localArtifactSuffixes = []string{".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"}

// localArtifact reports whether a requirement line names a local file or
// directory rather than a package: a path (./, ../, /) or a bare file name
// with an artifact suffix, never a URL or a VCS reference.
func localArtifact(line string) bool {
	if strings.Contains(line, "://") || strings.HasPrefix(line, "git+") || strings.Contains(line, " @ ") {
		return false
	}
	if isLocalPath(line) {
		return true
	}
	lower := strings.ToLower(line)
	for _, s := range localArtifactSuffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}

// filterRequirements drops cog/coglet lines (with a warning), notes
// whether torch is pinned and points local artifacts at their mount. source
// names where the lines came from for messages; keyPath is the cog.yaml key
// they belong to; baseDir is the project directory relative paths in the
// lines start from (pip's rule: the requirements file's directory).
func filterRequirements(cfg *config.Config, keyPath, source, baseDir string, lines []string) (*requirements, error) {
	r := &requirements{}
	seen := map[string]bool{}
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
			case opt == "-f" || opt == "-e" || strings.HasPrefix(opt, "--find-links") || strings.HasPrefix(opt, "--editable"):
				if v := optionValue(line, opt); v != "" && !strings.Contains(v, "://") {
					return nil, posErr(cfg, keyPath, "%s line %d: %q names a local path, which the install step cannot see; list the wheel or archive files themselves, e.g. ./dist/pkg-1.0-py3-none-any.whl", source, i+1, line)
				}
			}
			r.lines = append(r.lines, line)
			continue
		}
		if name, target, ok := strings.Cut(line, " @ "); ok && requirementName.MatchString(name) && isLocalPath(strings.TrimSpace(target)) {
			return nil, posErr(cfg, keyPath, "%s line %d: %q: a local direct reference (name @ path) is not supported; list the path alone: %s", source, i+1, line, strings.TrimSpace(target))
		}
		if localArtifact(line) {
			p, err := localArtifactPath(cfg, keyPath, source, baseDir, i+1, line)
			if err != nil {
				return nil, err
			}
			if !seen[p] {
				seen[p] = true
				r.local = append(r.local, p)
			}
			r.packages++
			r.lines = append(r.lines, LocalRequirementsDir+"/"+p)
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

func isLocalPath(s string) bool {
	return strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "/")
}

// optionValue is the value of a requirements-file option line whose
// first field is opt: "-f X", "--find-links X" or "--find-links=X".
func optionValue(line, opt string) string {
	if _, v, ok := strings.Cut(opt, "="); ok {
		return v
	}
	return strings.TrimSpace(strings.TrimPrefix(line, opt))
}

// localArtifactPath is the project path of a local artifact line, resolved
// against baseDir; spaces are part of the name, as pip reads such a line.
func localArtifactPath(cfg *config.Config, keyPath, source, baseDir string, lineNo int, line string) (string, error) {
	if base, _, ok := strings.Cut(line, ";"); ok && localArtifact(strings.TrimSpace(base)) {
		return "", posErr(cfg, keyPath, "%s line %d: %q: environment markers are not supported on a local artifact; list the path alone", source, lineNo, line)
	}
	if strings.HasPrefix(line, "/") {
		return "", posErr(cfg, keyPath, "%s line %d: %q is an absolute path, which the build cannot read; put the file in the project and name it relative to %s", source, lineNo, line, source)
	}
	p := path.Clean(path.Join(baseDir, line))
	if p == ".." || strings.HasPrefix(p, "../") || p == "." {
		return "", posErr(cfg, keyPath, "%s line %d: %q resolves to %q, outside the project; local artifacts must be inside the project directory", source, lineNo, line, p)
	}
	return p, nil
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
