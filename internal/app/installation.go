package app

import (
	"context"
	"os"
	"time"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/store"
)

// PublishInstallation records the installation-wide settings this worker
// decides with, for rewind serve and the store-direct CLI to show.
func PublishInstallation(ctx context.Context, st *store.Store, cfg *config.Config) error {
	name, _ := os.Hostname()
	return st.PublishInstallation(ctx, store.Installation{RollbacksEnabled: cfg.RollbacksEnabled, RollbackWindowDays: cfg.RollbackWindowDays,
		CleanupEnabled: cfg.CleanupEnabled, CleanupOlderThanDays: cfg.CleanupOlderThanDays,
		PublishedBy: name + " (host " + cfg.Host + ")", PublishedAt: time.Now().UTC()})
}
