package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/rewindhq/rewind/internal/domain"
)

// Kinds of garbage: what an expired revision may have been the last to
// reference (R12).
const (
	// GarbageBundleDir is an unpacked DAG bundle version directory, one per
	// (deployment, version): bundle.RemoveVersion.
	GarbageBundleDir = "bundle-dir"
	// GarbageBundleObject is a bundle tarball in the content-addressed
	// store, shared by every deployment: bundle.FSStore.Delete.
	GarbageBundleObject = "bundle-object"
	// GarbageImage is a local image by digest, shared by every deployment.
	GarbageImage = "image"
)

// Garbage is one artifact no revision referenced when it was recorded.
// DeploymentID is set for GarbageBundleDir only; Ref is the bundle version
// for GarbageBundleDir and the digest otherwise.
type Garbage struct {
	Kind         string `json:"kind"`
	DeploymentID string `json:"deploymentId,omitempty"`
	Ref          string `json:"ref"`
}

// ExpireResult reports one ExpireBatch. LastDeployment is the cursor for the
// next batch; "" means there were no deployments after the cursor: done.
type ExpireResult struct {
	LastDeployment   string `json:"lastDeployment"`
	Deployments      int    `json:"deployments"`
	RevisionsDeleted int    `json:"revisionsDeleted"`
	GarbageAdded     int    `json:"garbageAdded"`
}

// cleanupLockKey serialises ExpireBatch across PostgreSQL workers: two
// batches deleting the last two references to one shared digest in
// parallel would each see the other's revision as kept and both miss it.
const cleanupLockKey = 0x72657769 // "rewi"

// expireHook, when set by a test, runs between the garbage inserts and the
// delete, inside the transaction.
var expireHook func()

// expiredWhere is the predicate for "revision V expires in this batch":
// a revision of a deployment in the page (id in ($1, $2]), created before
// the cutoff ($3), not a change in progress, not the deployment's current
// revision and not its most recent one. The unary + on created_at keeps
// SQLite, which has no statistics, from walking revisions_created (most of
// the table) instead of the primary key range of the page.
func expiredWhere(alias string) string {
	return strings.ReplaceAll(`V.deployment_id > $1 AND V.deployment_id <= $2 AND +V.created_at < $3
	AND V.status <> '`+string(domain.StatusInitialized)+`'
	AND V.number <> (SELECT d.current_revision FROM deployments d WHERE d.id = V.deployment_id)
	AND V.number < (SELECT MAX(m.number) FROM revisions m WHERE m.deployment_id = V.deployment_id)`, "V.", alias+".")
}

// Each statement records the artifacts that expiring revisions reference
// and that no surviving revision does. The inner SELECT DISTINCT makes the
// NOT EXISTS probe run once per artifact, not once per revision; the probe
// walks the artifact's index and stops at the first revision that survives.
var (
	garbageImages = `INSERT INTO garbage (kind, deployment_id, ref, created_at)
	SELECT '` + GarbageImage + `', '', x.ref, CAST($4 AS BIGINT)
	FROM (SELECT DISTINCT v.image_digest AS ref FROM revisions v WHERE ` + expiredWhere("v") + `) x
	WHERE x.ref <> '' AND NOT EXISTS (SELECT 1 FROM revisions k WHERE k.image_digest = x.ref AND NOT (` + expiredWhere("k") + `))
	ON CONFLICT DO NOTHING`

	garbageObjects = `INSERT INTO garbage (kind, deployment_id, ref, created_at)
	SELECT '` + GarbageBundleObject + `', '', x.ref, CAST($4 AS BIGINT)
	FROM (SELECT DISTINCT v.dag_bundle_digest AS ref FROM revisions v WHERE ` + expiredWhere("v") + `) x
	WHERE x.ref <> '' AND NOT EXISTS (SELECT 1 FROM revisions k WHERE k.dag_bundle_digest = x.ref AND NOT (` + expiredWhere("k") + `))
	ON CONFLICT DO NOTHING`

	garbageDirs = `INSERT INTO garbage (kind, deployment_id, ref, created_at)
	SELECT '` + GarbageBundleDir + `', x.dep, x.ref, CAST($4 AS BIGINT)
	FROM (SELECT DISTINCT v.deployment_id AS dep, v.dag_bundle_version AS ref FROM revisions v WHERE ` + expiredWhere("v") + `) x
	WHERE x.ref <> '' AND NOT EXISTS (SELECT 1 FROM revisions k
		WHERE k.deployment_id = x.dep AND k.dag_bundle_version = x.ref AND NOT (` + expiredWhere("k") + `))
	ON CONFLICT DO NOTHING`

	deleteExpired = `DELETE FROM revisions WHERE ` + expiredWhere("revisions")
)

// ExpireBatch deletes the expired revisions of up to limit deployments with
// ids after afterDeployment, in id order, and records in the garbage outbox
// every artifact they were the last to reference, all in one transaction
// (R12). A revision expires when it was created before cutoff and is not its
// deployment's most recent revision, not its current revision and not
// INITIALIZED. An artifact is garbage when no remaining revision references
// it: of any deployment for image and bundle digests, of the same deployment
// for a bundle version directory.
//
// It is idempotent: once a batch has committed, running it again finds
// nothing left to expire, and garbage rows are never duplicated. Memory does
// not depend on how many revisions there are; all work is set-based SQL.
func (s *Store) ExpireBatch(ctx context.Context, cutoff time.Time, afterDeployment string, limit int) (ExpireResult, error) {
	var res ExpireResult
	if limit <= 0 {
		return res, fmt.Errorf("expire batch: limit %d must be positive", limit)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()

	page := `SELECT id FROM deployments WHERE id > $1 ORDER BY id LIMIT $2`
	if s.dialect == goose.DialectPostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(cleanupLockKey)); err != nil {
			return res, err
		}
		// Locking the page's deployments holds off CreateRevision and
		// FinishRevision on them (both update the row), so the revisions
		// and current revision every statement below sees are the same.
		// SQLite needs neither lock: the transaction holds the write lock.
		page += ` FOR UPDATE`
	}
	rows, err := tx.QueryContext(ctx, page, afterDeployment, limit)
	if err != nil {
		return res, err
	}
	for rows.Next() {
		if err := rows.Scan(&res.LastDeployment); err != nil {
			rows.Close()
			return ExpireResult{}, err
		}
		res.Deployments++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return ExpireResult{}, err
	}
	if res.Deployments == 0 {
		return res, nil
	}

	args := []any{afterDeployment, res.LastDeployment, micros(cutoff)}
	now := micros(time.Now())
	for _, q := range []string{garbageImages, garbageObjects, garbageDirs} {
		r, err := tx.ExecContext(ctx, q, append(args, now)...)
		if err != nil {
			return ExpireResult{}, fmt.Errorf("expire batch: recording garbage: %w", err)
		}
		n, _ := r.RowsAffected()
		res.GarbageAdded += int(n)
	}
	if expireHook != nil {
		expireHook()
	}
	r, err := tx.ExecContext(ctx, deleteExpired, args...)
	if err != nil {
		return ExpireResult{}, fmt.Errorf("expire batch: deleting revisions: %w", err)
	}
	n, _ := r.RowsAffected()
	res.RevisionsDeleted = int(n)
	if err := tx.Commit(); err != nil {
		return ExpireResult{}, err
	}
	return res, nil
}

// PendingGarbage returns up to limit outstanding garbage rows in key order;
// a caller pages by marking what it handled with DoneGarbage.
func (s *Store) PendingGarbage(ctx context.Context, limit int) ([]Garbage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, deployment_id, ref FROM garbage
		ORDER BY kind, deployment_id, ref LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Garbage
	for rows.Next() {
		var g Garbage
		if err := rows.Scan(&g.Kind, &g.DeploymentID, &g.Ref); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// DoneGarbage removes handled rows from the outbox. Rows already gone are
// ignored, so a retried call converges.
func (s *Store) DoneGarbage(ctx context.Context, gs []Garbage) error {
	if len(gs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `DELETE FROM garbage WHERE kind=$1 AND deployment_id=$2 AND ref=$3`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, g := range gs {
		if _, err := stmt.ExecContext(ctx, g.Kind, g.DeploymentID, g.Ref); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// StillReferenced says whether any revision (of any status) references the
// artifact now. Call it right before deleting: a deploy may have produced the
// same digest or version again since the row was recorded.
func (s *Store) StillReferenced(ctx context.Context, g Garbage) (bool, error) {
	var (
		q    string
		args []any
	)
	switch g.Kind {
	case GarbageImage:
		q, args = `SELECT 1 FROM revisions WHERE image_digest=$1 LIMIT 1`, []any{g.Ref}
	case GarbageBundleObject:
		q, args = `SELECT 1 FROM revisions WHERE dag_bundle_digest=$1 LIMIT 1`, []any{g.Ref}
	case GarbageBundleDir:
		q, args = `SELECT 1 FROM revisions WHERE deployment_id=$1 AND dag_bundle_version=$2 LIMIT 1`, []any{g.DeploymentID, g.Ref}
	default:
		return false, fmt.Errorf("garbage kind %q is unknown", g.Kind)
	}
	var one int
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
