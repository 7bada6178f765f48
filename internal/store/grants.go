package store

import (
	"context"

	"github.com/rewindhq/rewind/internal/domain"
)

func grantKind(g domain.Grant) (kind, name string) {
	if g.Role != "" {
		return "role", g.Role
	}
	return "permission", g.Permission
}

// AddGrant is idempotent: granting twice leaves one grant.
func (s *Store) AddGrant(ctx context.Context, g domain.Grant) error {
	if g.DeploymentID != "" {
		if _, err := s.GetDeployment(ctx, g.DeploymentID); err != nil {
			return err
		}
	}
	kind, name := grantKind(g)
	_, err := s.db.ExecContext(ctx, `INSERT INTO grants (username, deployment_id, kind, name) VALUES ($1,$2,$3,$4)
		ON CONFLICT DO NOTHING`, g.User, g.DeploymentID, kind, name)
	return err
}

// RevokeGrant removes one grant; revoking what was never granted is NotFound.
func (s *Store) RevokeGrant(ctx context.Context, g domain.Grant) error {
	kind, name := grantKind(g)
	r, err := s.db.ExecContext(ctx, `DELETE FROM grants WHERE username=$1 AND deployment_id=$2 AND kind=$3 AND name=$4`,
		g.User, g.DeploymentID, kind, name)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return domain.Errorf(domain.NotFound, "%s holds no %s %s there to revoke", g.User, kind, name)
	}
	return nil
}

// GrantsFor returns every grant a user holds, system-wide and per deployment.
func (s *Store) GrantsFor(ctx context.Context, user string) ([]domain.Grant, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT username, deployment_id, kind, name FROM grants WHERE username=$1
		ORDER BY deployment_id, kind, name`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []domain.Grant
	for rows.Next() {
		var g domain.Grant
		var kind, name string
		if err := rows.Scan(&g.User, &g.DeploymentID, &kind, &name); err != nil {
			return nil, err
		}
		if kind == "role" {
			g.Role = name
		} else {
			g.Permission = name
		}
		out = append(out, g)
	}
	return out, rows.Err()
}
