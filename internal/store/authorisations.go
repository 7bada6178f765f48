package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// UsedSignature is a requester signature's nonce and the run that used it.
type UsedSignature struct {
	Nonce      string
	WorkflowID string
	RunID      string
	UsedAt     time.Time
}

// UseSignature records that u's run accepted the signature with u's nonce.
// It reports the run that used it first: u's own (also when an activity of
// that run is retried), or another one, when the signature is replayed.
// Rows from before forgetBefore are deleted: their signatures have expired
// and are refused for their age anyway.
func (s *Store) UseSignature(ctx context.Context, u UsedSignature, forgetBefore time.Time) (first UsedSignature, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return first, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM used_signatures WHERE used_at < $1`, micros(forgetBefore)); err != nil {
		return first, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO used_signatures (nonce, workflow_id, run_id, used_at) VALUES ($1,$2,$3,$4)
	ON CONFLICT (nonce) DO NOTHING`, u.Nonce, u.WorkflowID, u.RunID, micros(u.UsedAt)); err != nil {
		return first, err
	}
	var at int64
	first.Nonce = u.Nonce
	if err := tx.QueryRowContext(ctx, `SELECT workflow_id, run_id, used_at FROM used_signatures WHERE nonce=$1`, u.Nonce).
		Scan(&first.WorkflowID, &first.RunID, &at); err != nil {
		return first, err
	}
	first.UsedAt = fromMicros(at)
	return first, tx.Commit()
}

// BakeDecision is a failed bake's decision to roll its deployment back:
// the digest of the rollback's canonical input, who enabled the bake (the
// rollback runs under their permissions, R10), and the rollback run that
// used it.
type BakeDecision struct {
	BakeRunID     string
	DeploymentID  string
	InputDigest   string
	EnabledBy     string
	DecidedAt     time.Time
	RollbackRunID string
}

// RecordBakeDecision records a bake's decision; a bake decides once, so a
// retried activity keeps the first row.
func (s *Store) RecordBakeDecision(ctx context.Context, b BakeDecision) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO bake_decisions (bake_run_id, deployment_id, input_digest, enabled_by, decided_at)
	VALUES ($1,$2,$3,$4,$5) ON CONFLICT (bake_run_id) DO NOTHING`, b.BakeRunID, b.DeploymentID, b.InputDigest, b.EnabledBy, micros(b.DecidedAt))
	return err
}

// UseBakeDecision claims, for rollbackRunID, the newest decision made since
// since for this deployment and input that no other run has used. A run
// that claimed one already gets it again (a retried activity).
func (s *Store) UseBakeDecision(ctx context.Context, deploymentID, inputDigest, rollbackRunID string, since time.Time) (BakeDecision, bool, error) {
	b := BakeDecision{DeploymentID: deploymentID, InputDigest: inputDigest}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return b, false, err
	}
	defer tx.Rollback()
	var at int64
	err = tx.QueryRowContext(ctx, `SELECT bake_run_id, enabled_by, decided_at, rollback_run_id FROM bake_decisions
	WHERE deployment_id=$1 AND input_digest=$2 AND decided_at >= $3 AND (rollback_run_id = '' OR rollback_run_id = $4)
	ORDER BY decided_at DESC LIMIT 1`, deploymentID, inputDigest, micros(since), rollbackRunID).Scan(&b.BakeRunID, &b.EnabledBy, &at, &b.RollbackRunID)
	if errors.Is(err, sql.ErrNoRows) {
		return b, false, nil
	}
	if err != nil {
		return b, false, err
	}
	b.DecidedAt = fromMicros(at)
	if b.RollbackRunID == "" {
		res, err := tx.ExecContext(ctx, `UPDATE bake_decisions SET rollback_run_id=$1 WHERE bake_run_id=$2 AND rollback_run_id=''`, rollbackRunID, b.BakeRunID)
		if err != nil {
			return b, false, err
		}
		// Another run claimed it between the read and the write (PostgreSQL
		// re-checks the condition after the other transaction commits).
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return b, false, err
		}
		b.RollbackRunID = rollbackRunID
	}
	return b, true, tx.Commit()
}

// RecordBakeRun records that a deploy of revision started the bake run
// runID; runs older than forgetBefore are forgotten (their bakes are over).
func (s *Store) RecordBakeRun(ctx context.Context, runID, deploymentID string, revision int, at, forgetBefore time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM bake_runs WHERE started_at < $1`, micros(forgetBefore)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO bake_runs (run_id, deployment_id, revision, started_at) VALUES ($1,$2,$3,$4)
	ON CONFLICT (run_id) DO NOTHING`, runID, deploymentID, revision, micros(at)); err != nil {
		return err
	}
	return tx.Commit()
}

// IsBakeRun says whether a deploy of this deployment's revision started
// the bake run runID.
func (s *Store) IsBakeRun(ctx context.Context, runID, deploymentID string, revision int) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM bake_runs WHERE run_id=$1 AND deployment_id=$2 AND revision=$3`, runID, deploymentID, revision).Scan(&n)
	return n > 0, err
}
