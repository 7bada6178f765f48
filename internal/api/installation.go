package api

import (
	"context"
	"time"

	"github.com/rewindhq/rewind/internal/store"
)

// installation is what the workers decide with: the settings the last
// worker to start published, so the page and the API never offer a
// rollback the workers refuse, nor hide one they allow. Before any worker
// started, serve's own configuration stands in.
func (s *Server) installation(ctx context.Context) store.Installation {
	in, ok, err := s.opts.Store.PublishedInstallation(ctx)
	if err != nil {
		s.log.Warn("reading the workers' published settings; showing serve's own", "error", err)
	}
	if ok && err == nil {
		return in
	}
	c := s.opts.Config
	return store.Installation{RollbacksEnabled: c.RollbacksEnabled, RollbackWindowDays: c.RollbackWindowDays,
		CleanupEnabled: c.CleanupEnabled, CleanupOlderThanDays: c.CleanupOlderThanDays}
}

// window is R6's retention window as the workers apply it.
func (s *Server) window(ctx context.Context) time.Duration {
	return time.Duration(s.installation(ctx).RollbackWindowDays) * 24 * time.Hour
}
