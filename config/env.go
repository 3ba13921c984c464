package config

import (
	"regexp"
	"strconv"
	"strings"
)

// Environment names Cog reserves: its runtime or the platform sets them, so a
// user value would break the image or be silently overridden.
var (
	ReservedEnvNames    = []string{"PATH", "LD_LIBRARY_PATH", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONUNBUFFERED", "LIBRARY_PATH", "HF_ENDPOINT", "HF_HUB_ENABLE_HF_TRANSFER"}
	ReservedEnvPrefixes = []string{"R8_", "REPLICATE_", "CUDA_", "NVIDIA_", "NV_", "PGET_", "KUBERNETES_"}
)

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (w *walker) parseEnvironment(f field) []EnvVar {
	items, _ := w.list(f)
	var out []EnvVar
	seen := map[string]int{} // key -> line of first definition
	for _, it := range items {
		s, ok := w.str(it)
		if !ok {
			continue
		}
		key, value, found := strings.Cut(s, "=")
		pos := w.valuePos(it)
		switch {
		case !found:
			w.fail(pos, it.path, "must be KEY=VALUE", quote(s), "e.g. MODEL_DIR=/src/models")
		case !envKeyRE.MatchString(key):
			w.fail(pos, it.path, "is not a valid variable name", quote(key), "use letters, digits and _, not starting with a digit")
		case strings.ContainsAny(value, "\n\r\x00"):
			w.fail(pos, it.path, "the value must be on one line", quote(value), "")
		case contains(ReservedEnvNames, key):
			w.fail(pos, it.path, "this name is reserved by Cog", quote(key), "choose another name; reserved: "+strings.Join(ReservedEnvNames, " "))
		case reservedPrefix(key) != "":
			w.fail(pos, it.path, "names starting with "+reservedPrefix(key)+" are reserved by Cog", quote(key),
				"choose another name; reserved prefixes: "+strings.Join(ReservedEnvPrefixes, " "))
		case seen[key] != 0:
			w.fail(pos, it.path, "is set twice", quote(key), "it was first set at line "+strconv.Itoa(seen[key])+"; keep one")
		default:
			seen[key] = pos.Line
			out = append(out, EnvVar{Key: key, Value: value})
		}
	}
	return out
}

func reservedPrefix(key string) string {
	for _, p := range ReservedEnvPrefixes {
		if strings.HasPrefix(key, p) {
			return p
		}
	}
	return ""
}
