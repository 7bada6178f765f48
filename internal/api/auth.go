package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
)

// Tokens are issued by action.IssueToken ("rwd_<id>_<secret>", only their
// SHA-256 stored); the API checks them with the same pattern and hash.
var tokenPattern = action.TokenPattern

const tokenPrefix = action.TokenPrefix

func hashToken(plain string) string { return action.HashToken(plain) }

// IssueToken, IssueTokenWithTTL and DefaultTokenTTL are action's.
var (
	IssueToken        = action.IssueToken
	IssueTokenWithTTL = action.IssueTokenWithTTL
)

const DefaultTokenTTL = action.DefaultTokenTTL

// Authenticate returns the stored token a presented token proves, or an
// *authError (401) when it is malformed, unknown, wrong, revoked or
// expired.
func Authenticate(ctx context.Context, st *store.Store, plain string) (store.Token, error) {
	return AuthenticateAt(ctx, st, plain, time.Now())
}

// AuthenticateAt is Authenticate with the clock that decides expiry. Only
// once the secret is proven does the answer say more than "not valid".
func AuthenticateAt(ctx context.Context, st *store.Store, plain string, now time.Time) (store.Token, error) {
	m := tokenPattern.FindStringSubmatch(plain)
	if m == nil {
		return store.Token{}, &authError{"the token is not a rewind token (rwd_…); create one with `rewind token create --user NAME`"}
	}
	t, err := st.GetToken(ctx, m[1])
	if domain.TypeOf(err) == domain.NotFound {
		return store.Token{}, &authError{"the token is not valid"}
	}
	if err != nil {
		return store.Token{}, err
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(plain)), []byte(t.Hash)) != 1 {
		return store.Token{}, &authError{"the token is not valid"}
	}
	if t.RevokedAt != nil {
		return store.Token{}, &authError{"the token was revoked"}
	}
	if t.Expired(now) {
		return store.Token{}, &authError{"the token expired at " + t.ExpiresAt.UTC().Format(time.RFC3339) + "; create a new one with `rewind token create --user NAME`"}
	}
	return t, nil
}

// bearerUser authenticates an API request's "Authorization: Bearer" token.
// A request without credentials is not an attempt and costs nothing.
func (s *Server) bearerUser(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, plain, ok := strings.Cut(h, " ")
	if h == "" {
		return "", &authError{"no token: send Authorization: Bearer <token> (create one with `rewind token create --user NAME`)"}
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		_, err := s.braked(r, "bearer", "", func(context.Context, time.Time) (store.Token, error) {
			return store.Token{}, &authError{"the Authorization header must be Bearer <token>"}
		})
		return "", err
	}
	t, err := s.authenticate(r, "bearer", strings.TrimSpace(plain))
	if err != nil {
		return "", err
	}
	return t.User, nil
}
