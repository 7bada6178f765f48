package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// Webhook is where notifications of changes go (issue 16). Secret signs
// each delivery and never leaves the store but to the delivering activity.
type Webhook struct {
	ID           string    `json:"id"`
	DeploymentID string    `json:"deploymentId,omitempty"` // "" for every deployment
	URL          string    `json:"url"`
	Secret       string    `json:"-"`
	Events       []string  `json:"events,omitempty"` // none: every event
	CreatedAt    time.Time `json:"createdAt"`
}

// Wants says whether the webhook is for this event.
func (w Webhook) Wants(event string) bool {
	if len(w.Events) == 0 {
		return true
	}
	for _, e := range w.Events {
		if e == event {
			return true
		}
	}
	return false
}

func (s *Store) CreateWebhook(ctx context.Context, w Webhook) error {
	r, err := s.db.ExecContext(ctx, `INSERT INTO webhooks (id, deployment_id, url, secret, events, created_at) VALUES ($1,$2,$3,$4,$5,$6)
		ON CONFLICT (id) DO NOTHING`, w.ID, w.DeploymentID, w.URL, w.Secret, strings.Join(w.Events, ","), micros(w.CreatedAt))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return domain.Errorf(domain.AlreadyExists, "webhook %s already exists", w.ID)
	}
	return nil
}

// Webhooks lists the webhooks that apply to a deployment (its own and the
// installation's), or every webhook when deploymentID is "*".
func (s *Store) Webhooks(ctx context.Context, deploymentID string) ([]Webhook, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, deployment_id, url, secret, events, created_at FROM webhooks
		WHERE $1 = '*' OR deployment_id = '' OR deployment_id = $1 ORDER BY id`, deploymentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

func (s *Store) GetWebhook(ctx context.Context, id string) (Webhook, error) {
	w, err := scanWebhook(s.db.QueryRowContext(ctx, `SELECT id, deployment_id, url, secret, events, created_at FROM webhooks WHERE id=$1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return w, domain.Errorf(domain.NotFound, "no webhook %s", id)
	}
	return w, err
}

func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	r, err := s.db.ExecContext(ctx, `DELETE FROM webhooks WHERE id=$1`, id)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return domain.Errorf(domain.NotFound, "no webhook %s", id)
	}
	return nil
}

func scanWebhook(r scanner) (Webhook, error) {
	var (
		w      Webhook
		events string
		at     int64
	)
	if err := r.Scan(&w.ID, &w.DeploymentID, &w.URL, &w.Secret, &events, &at); err != nil {
		return w, err
	}
	if events != "" {
		w.Events = strings.Split(events, ",")
	}
	w.CreatedAt = fromMicros(at)
	return w, nil
}
