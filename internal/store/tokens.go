package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// Token is an API token as stored: its public id, its user and the SHA-256
// of the secret token (hex), never the token itself.
type Token struct {
	ID          string     `json:"id"`
	User        string     `json:"user"`
	Hash        string     `json:"-"`
	Description string     `json:"description,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	RevokedAt   *time.Time `json:"revokedAt,omitempty"`
	// ExpiresAt is when the token stops working; nil for tokens made
	// before tokens expired (migration 00005), which last until revoked.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// Expired says whether the token has expired at now.
func (t Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

const tokenColumns = `id, username, hash, description, created_at, revoked_at, expires_at`

// CreateToken stores a new token; a second token with the same id is
// AlreadyExists.
func (s *Store) CreateToken(ctx context.Context, t Token) error {
	r, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (`+tokenColumns+`) VALUES ($1,$2,$3,$4,$5,NULL,$6)
		ON CONFLICT (id) DO NOTHING`, t.ID, t.User, t.Hash, t.Description, micros(t.CreatedAt), nullMicros(t.ExpiresAt))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return domain.Errorf(domain.AlreadyExists, "token %s already exists", t.ID)
	}
	return nil
}

// GetToken finds a token by its public id, revoked or not.
func (s *Store) GetToken(ctx context.Context, id string) (Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id=$1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, domain.Errorf(domain.NotFound, "no token %s", id)
	}
	return t, err
}

// ListTokens lists tokens oldest first: one user's, or everyone's when user
// is empty. Revoked tokens are listed too, with their revocation time.
func (s *Store) ListTokens(ctx context.Context, user string) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE $1 = '' OR username = $1
		ORDER BY created_at, id`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken marks a token revoked and ends its page sessions; both stop
// working at once. Revoking a revoked token keeps the first revocation time
// and is not an error; revoking an unknown id is NotFound.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	r, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id=$1`, id, micros(at))
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return domain.Errorf(domain.NotFound, "no token %s to revoke (see `rewind token list`)", id)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE api_sessions SET ended_at = $2 WHERE token_id=$1 AND ended_at IS NULL`, id, micros(at)); err != nil {
		return err
	}
	return tx.Commit()
}

func scanToken(r scanner) (Token, error) {
	var (
		t                Token
		created          int64
		revoked, expires sql.NullInt64
	)
	if err := r.Scan(&t.ID, &t.User, &t.Hash, &t.Description, &created, &revoked, &expires); err != nil {
		return t, err
	}
	t.CreatedAt = fromMicros(created)
	t.RevokedAt = timeOrNil(revoked)
	t.ExpiresAt = timeOrNil(expires)
	return t, nil
}

// nullMicros and timeOrNil map optional times to nullable BIGINT columns.
func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

func timeOrNil(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	at := fromMicros(v.Int64)
	return &at
}
