package exporter

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ReservedTagPrefix marks the tags the bundle writes for its own parts
// (cog-image.*, cog-weight.*); a user tag may not start with it, or it could
// be overwritten by (or overwrite) a part of another bundle.
const ReservedTagPrefix = "cog-"

// maxWeightTagName bounds the sanitised weight name so that
// "cog-weight." + name + "." + 12 hex stays within the 128-character tag
// limit of the distribution spec (11 + 104 + 1 + 12 = 128).
const maxWeightTagName = 104

// tagRE is the distribution spec's tag grammar.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// ValidateUserTag refuses tags that are not valid registry tags or that use
// the reserved cog- prefix.
func ValidateUserTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("tag %q is not a valid OCI tag (allowed: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}); choose another tag", tag)
	}
	if strings.HasPrefix(tag, ReservedTagPrefix) {
		return fmt.Errorf("tag %q starts with %q, which is reserved for the bundle's own image and weight tags; choose another tag", tag, ReservedTagPrefix)
	}
	return nil
}

// DefaultTag is the tag used when none is given: the UTC time as
// YYYYMMDDTHHMMSSZ, as Cog does.
func DefaultTag(now time.Time) string {
	return now.UTC().Format("20060102T150405Z")
}

// ImageTag is where the model image manifest is tagged next to the bundle.
func ImageTag(tag string) string { return "cog-image." + tag }

// WeightTag is where a weight manifest is tagged:
// cog-weight.<sanitised name>.<first 12 hex of the set digest>.
func WeightTag(name, setDigest string) string {
	hex := strings.TrimPrefix(setDigest, "sha256:")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return "cog-weight." + SanitizeTagName(name) + "." + hex
}

// SanitizeTagName maps a weight name to [A-Za-z0-9_-]: other characters
// become '-', runs of '-' collapse, '-' is trimmed from both ends, the result
// is cut to 104 characters, and an empty result becomes "unnamed".
func SanitizeTagName(name string) string {
	var b strings.Builder
	lastDash := false
	for _, r := range name {
		ok := r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			r = '-'
		}
		if r == '-' {
			if lastDash {
				continue
			}
			lastDash = true
		} else {
			lastDash = false
		}
		b.WriteRune(r)
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > maxWeightTagName {
		s = strings.Trim(s[:maxWeightTagName], "-")
	}
	if s == "" {
		return "unnamed"
	}
	return s
}
