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
	// GarbageSnapshot is a metadata snapshot taken before a revision's
	// metadata downgrade; it belongs to that one revision. Ref is its path
	// under the snapshot directory.
	GarbageSnapshot = "metadata-snapshot"
)

// Garbage is one artifact no revision referenced when it was recorded.
// DeploymentID is set for GarbageBundleDir and GarbageSnapshot; Ref is the
// bundle version for GarbageBundleDir, the path for GarbageSnapshot and the
// digest otherwise. Host is the Docker host the artifact lives on, "" for
// bundle objects, which every host shares (HostKind).
type Garbage struct {
	Kind         string `json:"kind"`
	DeploymentID string `json:"deploymentId,omitempty"`
	Ref          string `json:"ref"`
	Host         string `json:"host,omitempty"`
}

// HostKind says whether garbage of this kind lives on one Docker host (an
// image on its Engine; a bundle directory or snapshot under its worker's
// data directory) and so is removed by a worker of that host.
func HostKind(kind string) bool { return kind != GarbageBundleObject }

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

// expireHook, when set by a test, runs inside the transaction between
// deleting the revisions and recording their garbage: the worst place to
// die.
var expireHook func()

// A batch works in three set-based steps over a per-session temporary table
// of the revisions it expires, so the expiry rule is evaluated once per
// revision and memory is bounded by the batch, never by the table.
const (
	createVictims = `CREATE TEMP TABLE IF NOT EXISTS cleanup_victims (
	deployment_id      TEXT NOT NULL,
	number             INTEGER NOT NULL,
	host               TEXT NOT NULL,
	image_digest       TEXT NOT NULL,
	dag_bundle_version TEXT NOT NULL,
	dag_bundle_digest  TEXT NOT NULL,
	metadata_snapshot  TEXT NOT NULL,
	PRIMARY KEY (deployment_id, number))`

	// A revision of a deployment in the page (id in ($1, $2]) expires when
	// it was created before the cutoff ($3), is not a change in progress,
	// not the current revision and not the most recent one. The unary + on
	// created_at keeps SQLite, which has no statistics, from walking
	// revisions_created (most of the table) instead of the page's range of
	// the primary key.
	selectVictims = `INSERT INTO cleanup_victims (deployment_id, number, host, image_digest, dag_bundle_version, dag_bundle_digest, metadata_snapshot)
	SELECT v.deployment_id, v.number, d.host, v.image_digest, v.dag_bundle_version, v.dag_bundle_digest, v.metadata_snapshot
	FROM deployments d
	JOIN (SELECT deployment_id, MAX(number) AS top FROM revisions
		WHERE deployment_id > $1 AND deployment_id <= $2 GROUP BY deployment_id) t ON t.deployment_id = d.id
	JOIN revisions v ON v.deployment_id = d.id
	WHERE d.id > $1 AND d.id <= $2 AND +v.created_at < $3 AND v.status <> '` + string(domain.StatusInitialized) + `'
		AND v.number <> d.current_revision AND v.number < t.top`

	deleteVictims = `DELETE FROM revisions WHERE deployment_id > $1 AND deployment_id <= $2
	AND (deployment_id, number) IN (SELECT deployment_id, number FROM cleanup_victims)`

	// Once the victims are gone, an artifact they referenced is garbage
	// exactly when no revision left references it: one index probe per
	// distinct artifact. An image is garbage on a host when no revision of
	// that host's deployments references it (counted per host: the other
	// hosts' Engines pulled their own copies); bundle objects are shared by
	// every host; bundle directories and snapshots belong to one deployment.
	garbageImages = `INSERT INTO garbage (kind, host, deployment_id, ref, created_at)
	SELECT '` + GarbageImage + `', x.host, '', x.ref, CAST($1 AS BIGINT)
	FROM (SELECT DISTINCT host, image_digest AS ref FROM cleanup_victims) x
	WHERE x.ref <> '' AND NOT EXISTS (SELECT 1 FROM revisions k JOIN deployments kd ON kd.id = k.deployment_id
		WHERE k.image_digest = x.ref AND kd.host = x.host)
	ON CONFLICT DO NOTHING`

	garbageObjects = `INSERT INTO garbage (kind, deployment_id, ref, created_at)
	SELECT '` + GarbageBundleObject + `', '', x.ref, CAST($1 AS BIGINT)
	FROM (SELECT DISTINCT dag_bundle_digest AS ref FROM cleanup_victims) x
	WHERE x.ref <> '' AND NOT EXISTS (SELECT 1 FROM revisions k WHERE k.dag_bundle_digest = x.ref)
	ON CONFLICT DO NOTHING`

	garbageDirs = `INSERT INTO garbage (kind, host, deployment_id, ref, created_at)
	SELECT '` + GarbageBundleDir + `', x.host, x.dep, x.ref, CAST($1 AS BIGINT)
	FROM (SELECT DISTINCT host, deployment_id AS dep, dag_bundle_version AS ref FROM cleanup_victims) x
	WHERE x.ref <> '' AND NOT EXISTS (SELECT 1 FROM revisions k WHERE k.deployment_id = x.dep AND k.dag_bundle_version = x.ref)
	ON CONFLICT DO NOTHING`

	// A snapshot belongs to its revision alone.
	garbageSnapshots = `INSERT INTO garbage (kind, host, deployment_id, ref, created_at)
	SELECT '` + GarbageSnapshot + `', x.host, x.deployment_id, x.metadata_snapshot, CAST($1 AS BIGINT)
	FROM cleanup_victims x WHERE x.metadata_snapshot <> ''
	ON CONFLICT DO NOTHING`
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

	page3 := []any{afterDeployment, res.LastDeployment, micros(cutoff)}
	for _, q := range []string{createVictims, `DELETE FROM cleanup_victims`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return ExpireResult{}, fmt.Errorf("expire batch: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, selectVictims, page3...); err != nil {
		return ExpireResult{}, fmt.Errorf("expire batch: selecting revisions: %w", err)
	}
	if s.dialect == goose.DialectPostgres {
		// Autovacuum never analyzes temporary tables; without statistics
		// the planner guesses their size.
		if _, err := tx.ExecContext(ctx, `ANALYZE cleanup_victims`); err != nil {
			return ExpireResult{}, err
		}
	}
	r, err := tx.ExecContext(ctx, deleteVictims, page3[:2]...)
	if err != nil {
		return ExpireResult{}, fmt.Errorf("expire batch: deleting revisions: %w", err)
	}
	n, _ := r.RowsAffected()
	res.RevisionsDeleted = int(n)
	if expireHook != nil {
		expireHook()
	}
	now := micros(time.Now())
	for _, q := range []string{garbageImages, garbageObjects, garbageDirs, garbageSnapshots} {
		r, err := tx.ExecContext(ctx, q, now)
		if err != nil {
			return ExpireResult{}, fmt.Errorf("expire batch: recording garbage: %w", err)
		}
		n, _ := r.RowsAffected()
		res.GarbageAdded += int(n)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM cleanup_victims`); err != nil {
		return ExpireResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return ExpireResult{}, err
	}
	return res, nil
}

// PendingGarbage returns up to limit outstanding garbage rows in key order;
// a caller pages by marking what it handled with DoneGarbage.
func (s *Store) PendingGarbage(ctx context.Context, limit int) ([]Garbage, error) {
	return scanGarbage(s.db.QueryContext(ctx, `SELECT kind, deployment_id, ref, host FROM garbage
		ORDER BY kind, host, deployment_id, ref LIMIT $1`, limit))
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
	// A row-value IN list deletes a chunk per round trip; the chunk keeps
	// the parameter count far below both databases' limits.
	const chunk = 200
	for len(gs) > 0 {
		n := min(chunk, len(gs))
		var q strings.Builder
		q.WriteString(`DELETE FROM garbage WHERE (kind, host, deployment_id, ref) IN (VALUES `)
		args := make([]any, 0, 4*n)
		for i, g := range gs[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d)", 4*i+1, 4*i+2, 4*i+3, 4*i+4)
			args = append(args, g.Kind, g.Host, g.DeploymentID, g.Ref)
		}
		q.WriteString(")")
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		gs = gs[n:]
	}
	return tx.Commit()
}

// StillReferenced says whether any revision (of any status) references the
// artifact now, for an image any revision of a deployment on its host. Call
// it right before deleting: a deploy may have produced the same digest or
// version again since the row was recorded.
func (s *Store) StillReferenced(ctx context.Context, g Garbage) (bool, error) {
	var (
		q    string
		args []any
	)
	switch g.Kind {
	case GarbageImage:
		q, args = `SELECT 1 FROM revisions r JOIN deployments d ON d.id = r.deployment_id
			WHERE r.image_digest=$1 AND (d.host=$2 OR $2 = '') LIMIT 1`, []any{g.Ref, g.Host}
	case GarbageBundleObject:
		q, args = `SELECT 1 FROM revisions WHERE dag_bundle_digest=$1 LIMIT 1`, []any{g.Ref}
	case GarbageBundleDir:
		q, args = `SELECT 1 FROM revisions WHERE deployment_id=$1 AND dag_bundle_version=$2 LIMIT 1`, []any{g.DeploymentID, g.Ref}
	case GarbageSnapshot:
		q, args = `SELECT 1 FROM revisions WHERE deployment_id=$1 AND metadata_snapshot=$2 LIMIT 1`, []any{g.DeploymentID, g.Ref}
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
