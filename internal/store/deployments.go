package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

const deploymentColumns = `id, name, description, dag_source, dag_deploy_enabled, rollback_enabled,
	env, resources, components, current_revision, created_at, updated_at, metadata_db, auto_rollback, host`

func micros(t time.Time) int64     { return t.UnixMicro() }
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// CreateDeployment adds a deployment; an existing id is AlreadyExists.
func (s *Store) CreateDeployment(ctx context.Context, d domain.Deployment) error {
	env, res, comps, err := encodeSettings(d)
	if err != nil {
		return err
	}
	now := micros(time.Now())
	r, err := s.db.ExecContext(ctx, `INSERT INTO deployments (`+deploymentColumns+`, last_revision)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,0,$10,$10,$11,$12,$13,0) ON CONFLICT (id) DO NOTHING`,
		d.ID, d.Name, d.Description, string(d.DagSource), d.DagDeployEnabled, d.RollbackEnabled, env, res, comps, now, d.MetadataDatabaseURL, autoRollback(d), hostOf(d))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return domain.Errorf(domain.AlreadyExists, "deployment %s already exists", d.ID)
	}
	return nil
}

// UpdateDeploymentSettings writes the settings a user may change; the
// current revision is owned by the workflows and is not touched here.
func (s *Store) UpdateDeploymentSettings(ctx context.Context, d domain.Deployment) error {
	env, res, comps, err := encodeSettings(d)
	if err != nil {
		return err
	}
	// The host stays once any revision exists, in whatever state (a first
	// deploy in flight, or one that failed uncompensated, has containers,
	// a bundle or snapshots there): checked in the same statement as the
	// write, so a deploy recorded meanwhile cannot slip between the two.
	r, err := s.db.ExecContext(ctx, `UPDATE deployments SET name=$2, description=$3, dag_source=$4,
		dag_deploy_enabled=$5, rollback_enabled=$6, env=$7, resources=$8, components=$9, updated_at=$10, metadata_db=$11, auto_rollback=$12, host=$13
		WHERE id=$1 AND (host=$13 OR NOT EXISTS (SELECT 1 FROM revisions WHERE deployment_id=$1))`,
		d.ID, d.Name, d.Description, string(d.DagSource), d.DagDeployEnabled, d.RollbackEnabled, env, res, comps, micros(time.Now()), d.MetadataDatabaseURL, autoRollback(d), hostOf(d))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		cur, err := s.GetDeployment(ctx, d.ID)
		if err != nil {
			return err
		}
		return domain.Errorf(domain.InvalidInput, "--host: deployment %s has revisions on host %s; moving it to another host is not supported", d.ID, cur.Host)
	}
	return nil
}

func (s *Store) GetDeployment(ctx context.Context, id string) (domain.Deployment, error) {
	d, err := scanDeployment(s.db.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE id=$1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, notFoundDeployment(id)
	}
	return d, err
}

// ListDeployments pages through deployments in id order, after the given id.
func (s *Store) ListDeployments(ctx context.Context, after string, limit int) ([]domain.Deployment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []domain.Deployment
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func notFoundDeployment(id string) error {
	return domain.Errorf(domain.NotFound, "deployment %s does not exist (see `rewind deployment list`)", id)
}

func encodeSettings(d domain.Deployment) (env, res, comps string, err error) {
	if d.Env == nil {
		d.Env = map[string]string{}
	}
	b1, err := json.Marshal(d.Env)
	if err != nil {
		return
	}
	b2, err := json.Marshal(d.Resources)
	if err != nil {
		return
	}
	b3, err := json.Marshal(d.Components)
	return string(b1), string(b2), string(b3), err
}

type scanner interface{ Scan(...any) error }

func scanDeployment(r scanner) (domain.Deployment, error) {
	var (
		d                  domain.Deployment
		src, env, res, cps string
		ar                 string
		created, updated   int64
	)
	if err := r.Scan(&d.ID, &d.Name, &d.Description, &src, &d.DagDeployEnabled, &d.RollbackEnabled,
		&env, &res, &cps, &d.CurrentRevision, &created, &updated, &d.MetadataDatabaseURL, &ar, &d.Host); err != nil {
		return d, err
	}
	if ar != "" {
		d.AutoRollback = &domain.AutoRollback{}
		if err := json.Unmarshal([]byte(ar), d.AutoRollback); err != nil {
			return d, err
		}
	}
	d.DagSource = domain.DagSource(src)
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	if err := json.Unmarshal([]byte(env), &d.Env); err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(res), &d.Resources); err != nil {
		return d, err
	}
	return d, json.Unmarshal([]byte(cps), &d.Components)
}

// hostOf is the deployment's host, the single local one when unsaid.
func hostOf(d domain.Deployment) string {
	if d.Host == "" {
		return domain.DefaultHost
	}
	return d.Host
}

// HostCount is one Docker host named by deployments.
type HostCount struct {
	Host        string `json:"host"`
	Deployments int    `json:"deployments"`
}

// Hosts lists the hosts deployments name, with how many each, in name order.
func (s *Store) Hosts(ctx context.Context) ([]HostCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT host, COUNT(*) FROM deployments GROUP BY host ORDER BY host`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []HostCount
	for rows.Next() {
		var h HostCount
		if err := rows.Scan(&h.Host, &h.Deployments); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func autoRollback(d domain.Deployment) string {
	if d.AutoRollback == nil {
		return ""
	}
	b, _ := json.Marshal(d.AutoRollback)
	return string(b)
}
