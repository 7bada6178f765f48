package action

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/store"
)

// A token is "rwd_<id>_<secret>": the id (12 hex digits) is public and finds
// the stored row, the secret (32 random bytes, base64url) is what proves
// possession. The store keeps only the SHA-256 of the whole token (the API
// compares it in constant time).
const TokenPrefix = "rwd_"

var TokenPattern = regexp.MustCompile(`^rwd_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$`)

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
	plain := TokenPrefix + t.ID + "_" + base64.RawURLEncoding.EncodeToString(secret)
	t.Hash = HashToken(plain)
	if err := st.CreateToken(ctx, t); err != nil {
		return "", store.Token{}, err
	}
	return plain, t, nil
}

// HashToken is what the store keeps of a token.
func HashToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// IssuedToken is the one answer that carries a token: to the administrator
// who asked for it, once.
type IssuedToken struct {
	store.Token
	Plain string `json:"token"`
}
