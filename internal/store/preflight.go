package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// PreflightPass is start checks that passed: on which host, for which
// deployment, with which fingerprint (runtime.PreflightFingerprint), for
// which revision and when.
type PreflightPass struct {
	Host         string
	DeploymentID string
	Fingerprint  string
	Revision     int
	PassedAt     time.Time
}

// RecordPreflightPass records a pass, replacing an older one with the same
// fingerprint, and forgets the deployment's passes on that host from
// before forgetBefore, so the table holds at most what can still be reused.
func (s *Store) RecordPreflightPass(ctx context.Context, p PreflightPass, forgetBefore time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO preflight_passes (host, deployment_id, fingerprint, revision, passed_at) VALUES ($1,$2,$3,$4,$5)
	ON CONFLICT (host, deployment_id, fingerprint) DO UPDATE SET revision = excluded.revision, passed_at = excluded.passed_at
	WHERE preflight_passes.passed_at < excluded.passed_at`,
		p.Host, p.DeploymentID, p.Fingerprint, p.Revision, micros(p.PassedAt)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM preflight_passes WHERE host=$1 AND deployment_id=$2 AND passed_at < $3`,
		p.Host, p.DeploymentID, micros(forgetBefore)); err != nil {
		return err
	}
	return tx.Commit()
}

// PreflightPassSince is the pass with this fingerprint at or after since,
// if there is one.
func (s *Store) PreflightPassSince(ctx context.Context, host, deploymentID, fingerprint string, since time.Time) (PreflightPass, bool, error) {
	p := PreflightPass{Host: host, DeploymentID: deploymentID, Fingerprint: fingerprint}
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT revision, passed_at FROM preflight_passes
	WHERE host=$1 AND deployment_id=$2 AND fingerprint=$3 AND passed_at >= $4`, host, deploymentID, fingerprint, micros(since)).Scan(&p.Revision, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, err
	}
	p.PassedAt = fromMicros(at)
	return p, true, nil
}
