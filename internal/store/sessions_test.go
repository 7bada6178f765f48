package store

import (
	"context"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

func TestTokenExpiryAndSessions(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		at := time.Now().UTC().Truncate(time.Microsecond)
		exp := at.Add(time.Hour)
		if err := s.CreateToken(ctx, Token{ID: "e1", User: "alice", Hash: "h", CreatedAt: at, ExpiresAt: &exp}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateToken(ctx, Token{ID: "n1", User: "alice", Hash: "h2", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetToken(ctx, "e1")
		if err != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) {
			t.Fatalf("expiry round trip: %+v %v", got, err)
		}
		if got.Expired(exp.Add(-time.Microsecond)) || !got.Expired(exp) {
			t.Fatal("Expired is wrong at the boundary")
		}
		if n, _ := s.GetToken(ctx, "n1"); n.ExpiresAt != nil || n.Expired(at.Add(100*365*24*time.Hour)) {
			t.Fatalf("a token without expiry: %+v", n)
		}

		// Sessions: created, found, ended once, and ended by revocation.
		mk := func(id, token string, expires time.Time) {
			t.Helper()
			if err := s.CreateSession(ctx, Session{IDHash: id, TokenID: token, User: "alice", CreatedAt: at, ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
		}
		mk("s1", "e1", at.Add(time.Hour))
		mk("s2", "e1", at.Add(time.Hour))
		mk("s3", "n1", at.Add(time.Hour))
		mk("old", "n1", at.Add(-48*time.Hour))
		ss, err := s.GetSession(ctx, "s1")
		if err != nil || ss.TokenID != "e1" || ss.User != "alice" || !ss.ExpiresAt.Equal(at.Add(time.Hour)) || !ss.Live(at) || ss.Live(at.Add(time.Hour)) {
			t.Fatalf("session: %+v %v", ss, err)
		}
		if _, err := s.GetSession(ctx, "nope"); domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("unknown session: %v", err)
		}
		if err := s.EndSession(ctx, "s1", at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.EndSession(ctx, "s1", at.Add(time.Hour)); err != nil { // keeps the first end
			t.Fatal(err)
		}
		if ss, _ := s.GetSession(ctx, "s1"); ss.EndedAt == nil || !ss.EndedAt.Equal(at.Add(time.Minute)) || ss.Live(at) {
			t.Fatalf("ended session: %+v", ss)
		}
		if err := s.RevokeToken(ctx, "e1", at.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if ss, _ := s.GetSession(ctx, "s2"); ss.EndedAt == nil || !ss.EndedAt.Equal(at.Add(2*time.Minute)) {
			t.Fatalf("revoking the token must end its sessions: %+v", ss)
		}
		if ss, _ := s.GetSession(ctx, "s3"); !ss.Live(at) {
			t.Fatalf("another token's session was ended: %+v", ss)
		}
		n, err := s.PurgeSessions(ctx, at.Add(-24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("purge: %d %v", n, err)
		}
		if _, err := s.GetSession(ctx, "old"); domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("purged session still there: %v", err)
		}
	})
}
