package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Installation is the installation-wide settings the workers decide with,
// as the last worker to start published them. Every worker of one
// installation is meant to run with the same ones; `rewind serve` shows
// these, so the page never offers what the workers would refuse.
type Installation struct {
	RollbacksEnabled     bool      `json:"rollbacksEnabled"`
	RollbackWindowDays   int       `json:"rollbackWindowDays"`
	CleanupEnabled       bool      `json:"cleanupEnabled"`
	CleanupOlderThanDays int       `json:"cleanupOlderThanDays"`
	PublishedBy          string    `json:"publishedBy"` // the worker's host name and Docker host
	PublishedAt          time.Time `json:"publishedAt"`
}

// PublishInstallation replaces the published settings.
func (s *Store) PublishInstallation(ctx context.Context, in Installation) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO installation (id, rollbacks_enabled, rollback_window_days, cleanup_enabled,
	cleanup_older_than_days, published_by, published_at) VALUES (1,$1,$2,$3,$4,$5,$6)
	ON CONFLICT (id) DO UPDATE SET rollbacks_enabled = excluded.rollbacks_enabled, rollback_window_days = excluded.rollback_window_days,
	cleanup_enabled = excluded.cleanup_enabled, cleanup_older_than_days = excluded.cleanup_older_than_days,
	published_by = excluded.published_by, published_at = excluded.published_at`,
		in.RollbacksEnabled, in.RollbackWindowDays, in.CleanupEnabled, in.CleanupOlderThanDays, in.PublishedBy, micros(in.PublishedAt))
	return err
}

// PublishedInstallation is what the workers published; false before any
// worker started.
func (s *Store) PublishedInstallation(ctx context.Context) (Installation, bool, error) {
	var in Installation
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT rollbacks_enabled, rollback_window_days, cleanup_enabled, cleanup_older_than_days,
	published_by, published_at FROM installation WHERE id = 1`).Scan(&in.RollbacksEnabled, &in.RollbackWindowDays, &in.CleanupEnabled,
		&in.CleanupOlderThanDays, &in.PublishedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return in, false, nil
	}
	if err != nil {
		return in, false, err
	}
	in.PublishedAt = fromMicros(at)
	return in, true, nil
}
