package store

import (
	"context"
	"testing"
	"time"
)

// The published installation settings: none before a worker starts, the
// last publication after, on both stores.
func TestPublishedInstallation(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		if _, ok, err := s.PublishedInstallation(ctx); err != nil || ok {
			t.Fatalf("before any worker: %v %v", ok, err)
		}
		at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
		first := Installation{RollbacksEnabled: false, RollbackWindowDays: 90, CleanupEnabled: true, CleanupOlderThanDays: 90, PublishedBy: "w1", PublishedAt: at}
		second := Installation{RollbacksEnabled: true, RollbackWindowDays: 30, CleanupEnabled: false, CleanupOlderThanDays: 7, PublishedBy: "w2", PublishedAt: at.Add(time.Hour)}
		for _, in := range []Installation{first, second} {
			if err := s.PublishInstallation(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		got, ok, err := s.PublishedInstallation(ctx)
		if err != nil || !ok || got != second {
			t.Fatalf("published %+v %v %v, want %+v", got, ok, err, second)
		}
	})
}
