package llb

import (
	"strings"
)

// InstalledCogVersion is the version of the cog distribution in a pip
// freeze listing ("cog==0.22.0"), or "" when it is not listed with a
// version (e.g. installed from a URL). The caller sets run.cog.version to
// it: the label must name the package the image really has, which
// build.run steps could have changed.
func InstalledCogVersion(freeze string) string {
	for _, line := range strings.Split(freeze, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(line), "==")
		if ok && normalizeName(strings.TrimSpace(name)) == "cog" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
