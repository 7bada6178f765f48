package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// Session is a page sign-in as stored: found by the SHA-256 of the random
// id in the user's signed cookie, so a copy of the table opens no session.
type Session struct {
	IDHash    string
	TokenID   string
	User      string
	CreatedAt time.Time
	ExpiresAt time.Time
	EndedAt   *time.Time
}

// Live says whether the session may be used at now: not ended (signed out,
// token revoked) and not expired. The token's own state is checked by the
// caller, which reads it anyway.
func (ss Session) Live(now time.Time) bool {
	return ss.EndedAt == nil && now.Before(ss.ExpiresAt)
}

const sessionColumns = `id_hash, token_id, username, created_at, expires_at, ended_at`

// CreateSession records a sign-in.
func (s *Store) CreateSession(ctx context.Context, ss Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_sessions (`+sessionColumns+`) VALUES ($1,$2,$3,$4,$5,NULL)`,
		ss.IDHash, ss.TokenID, ss.User, micros(ss.CreatedAt), micros(ss.ExpiresAt))
	return err
}

// GetSession finds a session by its id's hash; NotFound when there is none
// (never made, or purged after it expired).
func (s *Store) GetSession(ctx context.Context, idHash string) (Session, error) {
	var (
		ss               Session
		created, expires int64
		ended            sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM api_sessions WHERE id_hash=$1`, idHash).
		Scan(&ss.IDHash, &ss.TokenID, &ss.User, &created, &expires, &ended)
	if errors.Is(err, sql.ErrNoRows) {
		return ss, domain.Errorf(domain.NotFound, "no such session")
	}
	if err != nil {
		return ss, err
	}
	ss.CreatedAt, ss.ExpiresAt, ss.EndedAt = fromMicros(created), fromMicros(expires), timeOrNil(ended)
	return ss, nil
}

// EndSession ends a session (sign-out). Ending an ended or unknown session
// is not an error: the outcome, no usable session, is the same.
func (s *Store) EndSession(ctx context.Context, idHash string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE api_sessions SET ended_at = $2 WHERE id_hash=$1 AND ended_at IS NULL`, idHash, micros(at))
	return err
}

// PurgeSessions deletes sessions that expired before cutoff, so the table
// holds only sessions that could still be presented; it returns how many.
func (s *Store) PurgeSessions(ctx context.Context, cutoff time.Time) (int64, error) {
	r, err := s.db.ExecContext(ctx, `DELETE FROM api_sessions WHERE expires_at < $1`, micros(cutoff))
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}
