package llb

import (
	"fmt"

	"github.com/cog-frontend/cog-frontend/config"
)

// Conversion errors are *config.Error, like parse errors, so a caller
// reports both the same way (file:line:col, key path, what is allowed).

// position looks a key path up in the config's source map; an unknown
// path yields the zero position.
func position(cfg *config.Config, keyPath string) config.Position {
	if cfg == nil || cfg.Source == nil {
		return config.Position{}
	}
	return cfg.Source[keyPath]
}

func posErr(cfg *config.Config, keyPath, format string, args ...any) error {
	return &config.Error{Pos: position(cfg, keyPath), Path: keyPath, Msg: fmt.Sprintf(format, args...)}
}

func warning(cfg *config.Config, keyPath, msg string) config.Warning {
	return config.Warning{Pos: position(cfg, keyPath), Path: keyPath, Message: msg}
}
