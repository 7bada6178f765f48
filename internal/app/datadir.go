package app

import (
	"fmt"
	"os"

	"github.com/rewindhq/rewind/internal/config"
)

// MakeDataDir creates the data directory 0700 (and missing parents 0700)
// before anything writes into it: it holds the SQLite store, the NDJSON log
// events and, by default, the bundle root, and whichever part came first
// would otherwise create it world-readable. The Docker daemon resolves bind
// mounts itself and containers see only the mounted directory, so a private
// parent costs them nothing. An existing directory keeps its mode: an operator may
// share it with a group on purpose (docs/security.md).
func MakeDataDir(cfg *config.Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory (REWIND_DATA_DIR): %w", err)
	}
	return nil
}
