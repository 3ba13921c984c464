package frontend

import (
	"context"
	"encoding/json"
	"errors"
	cogllb "github.com/cog-frontend/cog-frontend/llb"

	"github.com/cog-frontend/cog-frontend/config"
)

// Bridges to APIs other packages are still writing (config.ParseLock,
// config.Drift, llb.Build); replaced by direct calls when they land.
func parseLock(name string, data []byte) (*config.Lock, error) {
	var l config.Lock
	return &l, json.Unmarshal(data, &l)
}

func drift(cfg *config.Config, lock *config.Lock) error { return nil }

func convert(ctx context.Context, cfg *config.Config, opt cogllb.Options) (*cogllb.Result, error) {
	return nil, errors.New("llb.Build not landed")
}
