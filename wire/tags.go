package wire

import "strings"

// Tags a bundle writes next to the user's tag (spec §9).
const (
	// ReservedTagPrefix marks the tags the bundle writes for its own parts;
	// a user tag may not start with it, or it could overwrite (or be
	// overwritten by) a part of another bundle.
	ReservedTagPrefix = "cog-"
	ImageTagPrefix    = "cog-image."
	WeightTagPrefix   = "cog-weight."
)

// maxWeightTagName bounds the sanitised weight name so that
// "cog-weight." + name + "." + 12 hex stays within the 128-character tag
// limit of the distribution spec (11 + 104 + 1 + 12 = 128).
const maxWeightTagName = 104

// ImageTag is where the model image manifest is tagged next to the bundle.
func ImageTag(tag string) string { return ImageTagPrefix + tag }

// WeightTag is where a weight manifest is tagged:
// cog-weight.<sanitised name>.<first 12 hex of the set digest>.
func WeightTag(name, setDigest string) string {
	hex := strings.TrimPrefix(setDigest, "sha256:")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return WeightTagPrefix + SanitizeTagName(name) + "." + hex
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
