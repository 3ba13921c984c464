package wire

// Output formats of a build.
const (
	// FormatBundle keeps managed weights out of the image; they travel as
	// separate OCI artifacts next to it in one index.
	FormatBundle = "bundle"
	// FormatStandalone copies managed weights into the image at their
	// targets, one image layer per weight layer.
	FormatStandalone = "standalone"
)

// Formats lists the output formats, the default-with-weights first.
var Formats = []string{FormatBundle, FormatStandalone}

// IsFormat reports whether f names an output format ("" is not one).
func IsFormat(f string) bool { return f == FormatBundle || f == FormatStandalone }

// ResolveFormat is the one default: the format asked for, else bundle when
// cog.yaml has managed weights and standalone when it has none (the two
// build the same image then; the name says what was built).
func ResolveFormat(requested string, hasWeights bool) string {
	switch {
	case requested != "":
		return requested
	case hasWeights:
		return FormatBundle
	}
	return FormatStandalone
}
