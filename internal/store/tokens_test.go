package store

import (
	"context"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

func TestTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		at := time.Now().UTC().Truncate(time.Microsecond)
		a := Token{ID: "a1", User: "alice", Hash: "h-a1", Description: "CI", CreatedAt: at}
		if err := s.CreateToken(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateToken(ctx, a); domain.TypeOf(err) != domain.AlreadyExists {
			t.Fatalf("duplicate id: %v", err)
		}
		if err := s.CreateToken(ctx, Token{ID: "b1", User: "bob", Hash: "h-b1", CreatedAt: at.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetToken(ctx, "a1")
		if err != nil || got.User != "alice" || got.Hash != "h-a1" || got.Description != "CI" || !got.CreatedAt.Equal(at) || got.RevokedAt != nil {
			t.Fatalf("round trip: %+v %v", got, err)
		}
		if _, err := s.GetToken(ctx, "zz"); domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("missing: %v", err)
		}
		all, err := s.ListTokens(ctx, "")
		if err != nil || len(all) != 2 || all[0].ID != "a1" || all[1].ID != "b1" {
			t.Fatalf("list all: %+v %v", all, err)
		}
		bobs, err := s.ListTokens(ctx, "bob")
		if err != nil || len(bobs) != 1 || bobs[0].ID != "b1" {
			t.Fatalf("list bob: %+v %v", bobs, err)
		}
		if err := s.RevokeToken(ctx, "a1", at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		// A second revocation keeps the first time.
		if err := s.RevokeToken(ctx, "a1", at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetToken(ctx, "a1")
		if got.RevokedAt == nil || !got.RevokedAt.Equal(at.Add(time.Minute)) {
			t.Fatalf("revoked at: %+v", got.RevokedAt)
		}
		if err := s.RevokeToken(ctx, "zz", at); domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("revoke missing: %v", err)
		}
		if b, _ := s.GetToken(ctx, "b1"); b.RevokedAt != nil {
			t.Fatal("revoking a1 touched b1")
		}
	})
}
