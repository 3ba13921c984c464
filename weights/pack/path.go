package pack

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ValidatePath checks a weight file path (relative to the weight target,
// '/'-separated) against spec §3: valid UTF-8, no empty, "." or ".."
// component, no NUL, backslash or control byte (0x01-0x1F, 0x7F). Such
// paths would be ambiguous in a tar header or unsafe to extract.
func ValidatePath(p string) error {
	if p == "" {
		return fmt.Errorf("empty file path")
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("file path %q is not valid UTF-8; rename the file", p)
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("file path %q is absolute; weight paths are relative to the target", p)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == 0:
			return fmt.Errorf("file path %q contains a NUL byte; rename the file", p)
		case c == '\\':
			return fmt.Errorf("file path %q contains a backslash; rename the file", p)
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("file path %q contains control byte 0x%02x; rename the file", p, c)
		}
	}
	for _, comp := range strings.Split(p, "/") {
		switch comp {
		case "":
			return fmt.Errorf("file path %q has an empty component", p)
		case ".", "..":
			return fmt.Errorf("file path %q has a %q component", p, comp)
		}
	}
	return nil
}
