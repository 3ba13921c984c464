package exporter

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cog-frontend/cog-frontend/wire"
)

// tagRE is the distribution spec's tag grammar.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// ValidateUserTag refuses tags that are not valid registry tags or that use
// the reserved cog- prefix.
func ValidateUserTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("tag %q is not a valid OCI tag (allowed: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}); choose another tag", tag)
	}
	if strings.HasPrefix(tag, wire.ReservedTagPrefix) {
		return fmt.Errorf("tag %q starts with %q, which is reserved for the bundle's own image and weight tags; choose another tag", tag, wire.ReservedTagPrefix)
	}
	return nil
}

// DefaultTag is the tag used when none is given: the UTC time as
// YYYYMMDDTHHMMSSZ, as Cog does.
func DefaultTag(now time.Time) string {
	return now.UTC().Format("20060102T150405Z")
}
