package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
)

// Page sessions are a signed cookie and a row in the store. The cookie
// holds a random session id, the token id, the user, a CSRF secret and an
// expiry, HMAC-SHA256 under the session key; the store holds the SHA-256 of
// the session id with its token, user, expiry and, once signed out, when it
// ended. A request needs both: the signature keeps forged cookies from
// costing a query, and the row lets sign-out end the session for good on
// every replica sharing the store (a copied cookie replayed later is
// refused). Each request also re-reads the token, so revoking or expiring
// it ends the session at once.
type session struct {
	ID      string `json:"s"`
	TokenID string `json:"t"`
	User    string `json:"u"`
	CSRF    string `json:"c"`
	Expires int64  `json:"e"`
}

const (
	sessionCookie   = "rewind_session"
	preSessionCSRF  = "rewind_signin"
	sessionKeyLabel = "rewind session v1"
	// sessionPurgeAfter is how long an expired session's row is kept
	// before a sign-in deletes it; an expired row refuses its cookie
	// either way.
	sessionPurgeAfter = 24 * time.Hour
)

func (s *Server) sign(payload []byte) string {
	mac := hmac.New(sha256.New, s.opts.SessionKey)
	mac.Write([]byte(sessionKeyLabel))
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (s *Server) encodeSession(ss session) string {
	raw, _ := json.Marshal(ss)
	p := base64.RawURLEncoding.EncodeToString(raw)
	return p + "." + s.sign([]byte(p))
}

func (s *Server) decodeSession(v string) (session, error) {
	var ss session
	p, sig, ok := strings.Cut(v, ".")
	if !ok || subtle.ConstantTimeCompare([]byte(sig), []byte(s.sign([]byte(p)))) != 1 {
		return ss, errors.New("bad session signature")
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return ss, err
	}
	if err := json.Unmarshal(raw, &ss); err != nil {
		return ss, err
	}
	if s.opts.Now().Unix() > ss.Expires {
		return ss, errors.New("session expired")
	}
	if ss.ID == "" {
		return ss, errors.New("a session from before sessions were recorded")
	}
	return ss, nil
}

// startSession records a sign-in with token t and sets its cookie. The
// session ends with the token if that comes first.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, t store.Token) error {
	now := s.opts.Now()
	expires := now.Add(s.opts.SessionTTL)
	if t.ExpiresAt != nil && t.ExpiresAt.Before(expires) {
		expires = *t.ExpiresAt
	}
	ss := session{ID: randomString(32), TokenID: t.ID, User: t.User, CSRF: randomString(24), Expires: expires.Unix()}
	rec := store.Session{IDHash: hashToken(ss.ID), TokenID: t.ID, User: t.User, CreatedAt: now, ExpiresAt: expires}
	if err := s.opts.Store.CreateSession(ctx, rec); err != nil {
		return err
	}
	if _, err := s.opts.Store.PurgeSessions(ctx, now.Add(-sessionPurgeAfter)); err != nil {
		s.log.Warn("purging expired sessions", "error", err)
	}
	s.setCookie(w, sessionCookie, s.encodeSession(ss), expires.Sub(now))
	return nil
}

// endSession ends ss in the store, for every replica.
func (s *Server) endSession(ctx context.Context, ss session) error {
	return s.opts.Store.EndSession(ctx, hashToken(ss.ID), s.opts.Now())
}

// sessionFrom returns the request's valid session: signed, recorded, not
// ended or expired, and its token neither revoked nor expired.
func (s *Server) sessionFrom(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	ss, err := s.decodeSession(c.Value)
	if err != nil {
		return session{}, false
	}
	ctx, now := r.Context(), s.opts.Now()
	rec, err := s.opts.Store.GetSession(ctx, hashToken(ss.ID))
	if err != nil {
		if domain.TypeOf(err) != domain.NotFound {
			s.log.Error("reading a session", "error", err)
		}
		return session{}, false
	}
	if !rec.Live(now) || rec.TokenID != ss.TokenID || rec.User != ss.User {
		return session{}, false
	}
	t, err := s.opts.Store.GetToken(ctx, ss.TokenID)
	if err != nil || t.RevokedAt != nil || t.Expired(now) || t.User != ss.User {
		return session{}, false
	}
	return ss, true
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	secure := s.opts.SecureCookies || w.Header().Get("Strict-Transport-Security") != "" // see Handler
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(maxAge.Seconds())}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sameSecret compares a form's CSRF field with the session's in constant time.
func sameSecret(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
