package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

const revisionColumns = `deployment_id, number, created_at, created_by, description, type, image_ref, image_digest,
	runtime_version, airflow_version, dag_bundle_version, dag_bundle_digest, dag_deploy_enabled, status,
	rollback_of, workflow_id, run_id, failure_reason, finished_at, metadata_snapshot, requested_by_verified,
	git_commit, git_branch, git_author, git_remote, git_subject, rolled_back_from, forced_past,
	runtime_version_source, airflow_version_source, allow_unknown_version, git_committed_at`

// InProgressError says another change holds the deployment (R14): its
// revision is still INITIALIZED.
type InProgressError struct {
	Holder domain.Revision
}

func (e *InProgressError) Error() string {
	return fmt.Sprintf("deployment %s has a change in progress: revision %d by workflow %s (run %s)",
		e.Holder.DeploymentID, e.Holder.Number, e.Holder.WorkflowID, e.Holder.RunID)
}

// CreateRevision records a new INITIALIZED revision and gives it the next
// number. It is idempotent per workflow run: a retried call returns the row the
// first call made. While another run's revision is INITIALIZED it returns
// *InProgressError and records nothing.
func (s *Store) CreateRevision(ctx context.Context, r domain.Revision) (domain.Revision, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()

	// Taking the counter first locks the deployment's row (PostgreSQL) or the
	// database (SQLite), so the checks below cannot race another writer.
	var number int
	err = tx.QueryRowContext(ctx, `UPDATE deployments SET last_revision = last_revision + 1 WHERE id=$1 RETURNING last_revision`,
		r.DeploymentID).Scan(&number)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFoundDeployment(r.DeploymentID)
	}
	if err != nil {
		return r, err
	}
	if mine, err := scanRevision(tx.QueryRowContext(ctx, `SELECT `+revisionColumns+` FROM revisions WHERE run_id=$1 AND workflow_id=$2`, r.RunID, r.WorkflowID)); err == nil {
		return mine, nil // rolled back: the counter bump is undone
	} else if !errors.Is(err, sql.ErrNoRows) {
		return r, err
	}
	holder, err := scanRevision(tx.QueryRowContext(ctx, `SELECT `+revisionColumns+` FROM revisions
		WHERE deployment_id=$1 AND status=$2 ORDER BY number DESC LIMIT 1`, r.DeploymentID, string(domain.StatusInitialized)))
	if err == nil {
		return r, &InProgressError{Holder: holder}
	} else if !errors.Is(err, sql.ErrNoRows) {
		return r, err
	}

	r.Number = number
	r.Status = domain.StatusInitialized
	r.CreatedAt = r.CreatedAt.UTC().Truncate(time.Microsecond)
	r.FinishedAt, r.MetadataSnapshot = nil, ""
	g := domain.GitInfo{}
	if r.Git != nil {
		g = *r.Git
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO revisions (`+revisionColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,NULL,'',$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30)`,
		r.DeploymentID, r.Number, micros(r.CreatedAt), r.CreatedBy, r.Description, string(r.Type), r.ImageRef, r.ImageDigest,
		r.RuntimeVersion, r.AirflowVersion, r.DagBundleVersion, r.DagBundleDigest, r.DagDeployEnabled, string(r.Status),
		r.RollbackOf, r.WorkflowID, r.RunID, r.FailureReason, r.RequestedByVerified,
		g.Commit, g.Branch, g.Author, g.Remote, g.Subject, r.RolledBackFrom, r.ForcedPast,
		r.RuntimeVersionSource, r.AirflowVersionSource, r.AllowUnknownVersion, committedMicros(g.CommittedAt)); err != nil {
		return r, err
	}
	return r, tx.Commit()
}

// Artifacts are what a deploy learns while it runs: the digest and versions
// of the image it pulled, the bundle it unpacked.
type Artifacts struct {
	ImageDigest      string
	RuntimeVersion   string
	AirflowVersion   string
	DagBundleVersion string
	DagBundleDigest  string
}

// SetArtifacts fills in a revision's artifacts while it is INITIALIZED; once
// DEPLOYED or FAILED a revision is never edited (R1).
func (s *Store) SetArtifacts(ctx context.Context, deploymentID string, number int, a Artifacts) error {
	r, err := s.db.ExecContext(ctx, `UPDATE revisions SET image_digest=$3, runtime_version=$4, airflow_version=$5,
		dag_bundle_version=$6, dag_bundle_digest=$7 WHERE deployment_id=$1 AND number=$2 AND status=$8`,
		deploymentID, number, a.ImageDigest, a.RuntimeVersion, a.AirflowVersion, a.DagBundleVersion, a.DagBundleDigest,
		string(domain.StatusInitialized))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return domain.Errorf(domain.InvalidState, "revision %d of %s is not INITIALIZED; its artifacts are final (R1)", number, deploymentID)
	}
	return nil
}

// Finish moves a revision from INITIALIZED to DEPLOYED or FAILED. DEPLOYED
// also makes it the deployment's current revision and, when
// RestoreDagDeploy is set (rollbacks, R4), restores the revision's DAG
// deploy setting. Finishing twice with the same status is a no-op, so a
// retried activity converges.
type Finish struct {
	DeploymentID     string
	Number           int
	Status           domain.Status
	Reason           string
	At               time.Time
	RestoreDagDeploy bool
}

func (s *Store) FinishRevision(ctx context.Context, f Finish) (domain.Revision, error) {
	if f.Status != domain.StatusDeployed && f.Status != domain.StatusFailed {
		return domain.Revision{}, fmt.Errorf("finish: status %s is not final", f.Status)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return domain.Revision{}, err
	}
	defer tx.Rollback()
	cur, err := scanRevision(tx.QueryRowContext(ctx, `SELECT `+revisionColumns+` FROM revisions WHERE deployment_id=$1 AND number=$2`,
		f.DeploymentID, f.Number))
	if errors.Is(err, sql.ErrNoRows) {
		return cur, domain.Errorf(domain.NotFound, "revision %d of %s does not exist", f.Number, f.DeploymentID)
	}
	if err != nil {
		return cur, err
	}
	if cur.Status == f.Status {
		return cur, nil
	}
	if cur.Status != domain.StatusInitialized {
		return cur, domain.Errorf(domain.InvalidState, "revision %d of %s is already %s (R1)", f.Number, f.DeploymentID, cur.Status)
	}
	at := micros(f.At)
	if _, err := tx.ExecContext(ctx, `UPDATE revisions SET status=$3, failure_reason=$4, finished_at=$5
		WHERE deployment_id=$1 AND number=$2`, f.DeploymentID, f.Number, string(f.Status), f.Reason, at); err != nil {
		return cur, err
	}
	if f.Status == domain.StatusDeployed {
		q := `UPDATE deployments SET current_revision=$2, updated_at=$3 WHERE id=$1`
		args := []any{f.DeploymentID, f.Number, at}
		if f.RestoreDagDeploy {
			q = `UPDATE deployments SET current_revision=$2, updated_at=$3, dag_deploy_enabled=$4 WHERE id=$1`
			args = append(args, cur.DagDeployEnabled)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return cur, err
		}
	}
	if err := tx.Commit(); err != nil {
		return cur, err
	}
	cur.Status, cur.FailureReason = f.Status, f.Reason
	t := fromMicros(at)
	cur.FinishedAt = &t
	return cur, nil
}

func (s *Store) GetRevision(ctx context.Context, deploymentID string, number int) (domain.Revision, error) {
	r, err := scanRevision(s.db.QueryRowContext(ctx, `SELECT `+revisionColumns+` FROM revisions WHERE deployment_id=$1 AND number=$2`,
		deploymentID, number))
	if errors.Is(err, sql.ErrNoRows) {
		return r, domain.Errorf(domain.NotFound, "deployment %s has no revision %d (see `rewind history %s`)", deploymentID, number, deploymentID)
	}
	return r, err
}

// HistoryQuery is the statement behind ListRevisions, exported so tests can
// check its plan walks the primary key.
const HistoryQuery = `SELECT ` + revisionColumns + ` FROM revisions WHERE deployment_id=$1 AND number < $2 ORDER BY number DESC LIMIT $3`

// ListRevisions returns a deployment's history newest first (R1), at most
// limit rows with numbers below before (0: from the top).
func (s *Store) ListRevisions(ctx context.Context, deploymentID string, limit, before int) ([]domain.Revision, error) {
	if before <= 0 {
		before = math.MaxInt32
	}
	rows, err := s.db.QueryContext(ctx, HistoryQuery, deploymentID, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]domain.Revision, 0, limit)
	for rows.Next() {
		r, err := scanRevision(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// LatestDeployed is the number of the deployment's newest DEPLOYED revision,
// 0 when there is none (R6's "most recent deploy").
func (s *Store) LatestDeployed(ctx context.Context, deploymentID string) (int, error) {
	var n sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MAX(number) FROM revisions WHERE deployment_id=$1 AND status=$2`,
		deploymentID, string(domain.StatusDeployed)).Scan(&n)
	return int(n.Int64), err
}

func scanRevision(r scanner) (domain.Revision, error) {
	var (
		v           domain.Revision
		typ, status string
		created     int64
		finished    sql.NullInt64
		g           domain.GitInfo
		committed   int64
	)
	err := r.Scan(&v.DeploymentID, &v.Number, &created, &v.CreatedBy, &v.Description, &typ, &v.ImageRef, &v.ImageDigest,
		&v.RuntimeVersion, &v.AirflowVersion, &v.DagBundleVersion, &v.DagBundleDigest, &v.DagDeployEnabled, &status,
		&v.RollbackOf, &v.WorkflowID, &v.RunID, &v.FailureReason, &finished, &v.MetadataSnapshot, &v.RequestedByVerified,
		&g.Commit, &g.Branch, &g.Author, &g.Remote, &g.Subject, &v.RolledBackFrom, &v.ForcedPast,
		&v.RuntimeVersionSource, &v.AirflowVersionSource, &v.AllowUnknownVersion, &committed)
	if err != nil {
		return v, err
	}
	if committed > 0 {
		t := fromMicros(committed)
		g.CommittedAt = &t
	}
	if g.Commit != "" {
		v.Git = &g
	}
	v.Type, v.Status, v.CreatedAt = domain.DeployType(typ), domain.Status(status), fromMicros(created)
	if finished.Valid {
		t := fromMicros(finished.Int64)
		v.FinishedAt = &t
	}
	return v, nil
}

// SetImage records what a pull resolved (digest and versions, their
// sources unknown) on a revision that is still INITIALIZED, leaving its
// bundle fields alone.
func (s *Store) SetImage(ctx context.Context, deploymentID string, number int, digest, runtimeVersion, airflowVersion string) error {
	return s.SetPulledImage(ctx, deploymentID, number, PulledImage{Digest: digest, RuntimeVersion: runtimeVersion, AirflowVersion: airflowVersion})
}

// PulledImage is what a pull resolved: the digest, and each version with
// where it came from (R20).
type PulledImage struct {
	Digest               string
	RuntimeVersion       string
	RuntimeVersionSource string
	AirflowVersion       string
	AirflowVersionSource string
}

// SetPulledImage records what a pull resolved, the versions' sources
// included, on a revision that is still INITIALIZED.
func (s *Store) SetPulledImage(ctx context.Context, deploymentID string, number int, p PulledImage) error {
	r, err := s.db.ExecContext(ctx, `UPDATE revisions SET image_digest=$3, runtime_version=$4, airflow_version=$5,
		runtime_version_source=$6, airflow_version_source=$7 WHERE deployment_id=$1 AND number=$2 AND status=$8`,
		deploymentID, number, p.Digest, p.RuntimeVersion, p.AirflowVersion, p.RuntimeVersionSource, p.AirflowVersionSource,
		string(domain.StatusInitialized))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return domain.Errorf(domain.InvalidState, "revision %d of %s is not INITIALIZED; its image is final (R1)", number, deploymentID)
	}
	return nil
}

// SetSnapshot records the metadata snapshot taken before the revision's
// metadata downgrade (R16), while the revision is INITIALIZED.
func (s *Store) SetSnapshot(ctx context.Context, deploymentID string, number int, snapshot string) error {
	r, err := s.db.ExecContext(ctx, `UPDATE revisions SET metadata_snapshot=$3 WHERE deployment_id=$1 AND number=$2 AND status=$4`,
		deploymentID, number, snapshot, string(domain.StatusInitialized))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return domain.Errorf(domain.InvalidState, "revision %d of %s is not INITIALIZED; its snapshot is final (R1)", number, deploymentID)
	}
	return nil
}

// committedMicros is a commit time as stored: 0 when unknown.
func committedMicros(t *time.Time) int64 {
	if t == nil || t.Unix() <= 0 {
		return 0
	}
	return micros(*t)
}
