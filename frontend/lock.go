package frontend

import (
	"errors"

	"github.com/cog-frontend/cog-frontend/config"
	"github.com/cog-frontend/cog-frontend/wire"
)

// checkLock parses weights.lock and refuses to build when it does not match
// cog.yaml (config.ProjectLock: drift and envelopeFormat), each problem at
// its weight's line. It returns the lock projection: the locked entries of
// cog.yaml's weights, in cog.yaml order; nil when cog.yaml has no weights
// and there is no lock.
func checkLock(cfg *config.Config, files *buildFiles) (*config.Lock, error) {
	var lock *config.Lock
	if files.lock != nil {
		var err error
		if lock, err = config.ParseLock(files.lockName, files.lock); err != nil {
			return nil, err
		}
	}
	proj, err := config.ProjectLock(cfg, lock, files.lockName, wire.EnvelopeFormat)
	if m := (*config.LockMismatch)(nil); errors.As(err, &m) {
		return nil, m.Positioned()
	}
	return proj, err
}
