package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/store"
)

// A token is "rwd_<id>_<secret>": the id (12 hex digits) is public and finds
// the stored row, the secret (32 random bytes, base64url) is what proves
// possession. The store keeps only the SHA-256 of the whole token, and the
// comparison is in constant time.
const tokenPrefix = "rwd_"

var tokenPattern = regexp.MustCompile(`^rwd_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$`)

// DefaultTokenTTL is a token's lifetime when nothing else is said
// (REWIND_TOKEN_TTL's default): long enough for a CI secret to be rotated
// by hand, short enough that a forgotten one dies.
const DefaultTokenTTL = 90 * 24 * time.Hour

// IssueToken makes a token for user that lasts DefaultTokenTTL, stores its
// hash and returns the token itself: the only time it is ever shown.
func IssueToken(ctx context.Context, st *store.Store, user, description string, now time.Time) (string, store.Token, error) {
	return IssueTokenWithTTL(ctx, st, user, description, now, DefaultTokenTTL)
}

// IssueTokenWithTTL is IssueToken with the token's lifetime; it must be
// positive.
func IssueTokenWithTTL(ctx context.Context, st *store.Store, user, description string, now time.Time, ttl time.Duration) (string, store.Token, error) {
	if err := domain.CheckPerson(user); err != nil {
		return "", store.Token{}, err
	}
	if err := policy.CheckDeployDescription(description); err != nil {
		return "", store.Token{}, err
	}
	if ttl <= 0 {
		return "", store.Token{}, domain.Errorf(domain.InvalidInput, "a token's lifetime must be positive, e.g. 720h for 30 days (got %s)", ttl)
	}
	id := make([]byte, 6)
	secret := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return "", store.Token{}, err
	}
	if _, err := rand.Read(secret); err != nil {
		return "", store.Token{}, err
	}
	created := now.UTC().Truncate(time.Microsecond)
	expires := created.Add(ttl)
	t := store.Token{ID: hex.EncodeToString(id), User: user, Description: description, CreatedAt: created, ExpiresAt: &expires}
	plain := tokenPrefix + t.ID + "_" + base64.RawURLEncoding.EncodeToString(secret)
	t.Hash = hashToken(plain)
	if err := st.CreateToken(ctx, t); err != nil {
		return "", store.Token{}, err
	}
	return plain, t, nil
}

func hashToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

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
