package store

import (
	"context"
	"database/sql"
	"time"
)

// MaxGarbageAttempts is how many cleanup runs try to remove an artifact
// that keeps failing before it is set aside for a person to look at.
const MaxGarbageAttempts = 5

// AllHosts, as PendingGarbageAfter's host, walks the rows of every host.
const AllHosts = "*"

// PendingGarbageAfter returns up to limit outstanding rows of one host ("":
// the shared kinds; AllHosts: every row) after the given one in key order,
// leaving out those set aside: a batch walks the outbox once, past rows
// that fail, instead of fetching them again.
func (s *Store) PendingGarbageAfter(ctx context.Context, host string, after Garbage, limit int) ([]Garbage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, deployment_id, ref, host FROM garbage
		WHERE NOT set_aside AND (host = $5 OR $5 = '`+AllHosts+`') AND (kind, host, deployment_id, ref) > ($1, $6, $2, $3)
		ORDER BY kind, host, deployment_id, ref LIMIT $4`, after.Kind, after.DeploymentID, after.Ref, limit, host, after.Host)
	return scanGarbage(rows, err)
}

// scanGarbage reads rows of (kind, deployment_id, ref, host).
func scanGarbage(rows *sql.Rows, err error) ([]Garbage, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Garbage
	for rows.Next() {
		var g Garbage
		if err := rows.Scan(&g.Kind, &g.DeploymentID, &g.Ref, &g.Host); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// GarbageHosts lists, in order, the hosts with garbage waiting for their
// worker: rows not set aside of the kinds that live on a host.
func (s *Store) GarbageHosts(ctx context.Context) ([]string, error) {
	counts, err := s.PendingGarbageByHost(ctx)
	var out []string
	for _, c := range counts {
		if c.Host != "" {
			out = append(out, c.Host)
		}
	}
	return out, err
}

// HostGarbage is how many artifacts wait in the outbox for one host's
// worker ("" for the shared kinds).
type HostGarbage struct {
	Host    string `json:"host"`
	Pending int    `json:"pending"`
}

// PendingGarbageByHost counts the rows not set aside, per host, in order.
func (s *Store) PendingGarbageByHost(ctx context.Context) ([]HostGarbage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT host, COUNT(*) FROM garbage WHERE NOT set_aside GROUP BY host ORDER BY host`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []HostGarbage
	for rows.Next() {
		var h HostGarbage
		if err := rows.Scan(&h.Host, &h.Pending); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// FailedGarbage records that removing an artifact failed. It is set aside
// now when retrying cannot help (setAside), or after MaxGarbageAttempts
// failures; it reports whether the row is set aside.
func (s *Store) FailedGarbage(ctx context.Context, g Garbage, reason string, setAside bool) (bool, error) {
	if len(reason) > 1000 {
		reason = reason[:1000] + "…"
	}
	var aside bool
	err := s.db.QueryRowContext(ctx, `UPDATE garbage SET attempts = attempts + 1, last_error = $4,
		set_aside = set_aside OR $5 OR attempts + 1 >= $6
		WHERE kind = $1 AND deployment_id = $2 AND ref = $3 AND host = $7 RETURNING set_aside`,
		g.Kind, g.DeploymentID, g.Ref, reason, setAside, MaxGarbageAttempts, g.Host).Scan(&aside)
	return aside, err
}

// SetAside is an artifact cleanup gave up on, and why.
type SetAside struct {
	Garbage
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError"`
	Since     time.Time `json:"since"`
}

// SetAsideGarbage lists up to limit rows set aside, and how many there are.
func (s *Store) SetAsideGarbage(ctx context.Context, limit int) ([]SetAside, int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM garbage WHERE set_aside`).Scan(&n); err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT kind, deployment_id, ref, host, attempts, last_error, created_at FROM garbage
		WHERE set_aside ORDER BY kind, host, deployment_id, ref LIMIT $1`, limit)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []SetAside
	for rows.Next() {
		var (
			a  SetAside
			at int64
		)
		if err := rows.Scan(&a.Kind, &a.DeploymentID, &a.Ref, &a.Host, &a.Attempts, &a.LastError, &at); err != nil {
			return nil, 0, err
		}
		a.Since = fromMicros(at)
		out = append(out, a)
	}
	return out, n, rows.Err()
}

// ReleaseGarbage puts every row set aside back in line, after a person has
// fixed what stopped its removal.
func (s *Store) ReleaseGarbage(ctx context.Context) (int, error) {
	r, err := s.db.ExecContext(ctx, `UPDATE garbage SET set_aside = false, attempts = 0 WHERE set_aside`)
	if err != nil {
		return 0, err
	}
	n, _ := r.RowsAffected()
	return int(n), nil
}
