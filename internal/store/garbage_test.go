package store

import (
	"context"
	"fmt"
	"testing"
)

// An artifact that keeps failing is retried up to MaxGarbageAttempts times
// and then set aside; a refusal is set aside at once; rows set aside are
// skipped by the outbox walk until released; the walk pages past rows.
func TestGarbageFailuresAreSetAside(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		for i := 0; i < 5; i++ {
			if _, err := s.DB().ExecContext(ctx, `INSERT INTO garbage (kind, deployment_id, ref, created_at) VALUES ($1,'',$2,0)`,
				GarbageImage, fmt.Sprintf("ref-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		page, err := s.PendingGarbageAfter(ctx, Garbage{}, 2)
		if err != nil || len(page) != 2 || page[0].Ref != "ref-0" {
			t.Fatalf("first page: %+v %v", page, err)
		}
		next, err := s.PendingGarbageAfter(ctx, page[1], 10)
		if err != nil || len(next) != 3 || next[0].Ref != "ref-2" {
			t.Fatalf("the walk pages past what it has seen: %+v %v", next, err)
		}
		flaky, broken := page[0], page[1]
		for i := 1; i <= MaxGarbageAttempts; i++ {
			aside, err := s.FailedGarbage(ctx, flaky, "docker daemon unreachable", false)
			if err != nil || aside != (i == MaxGarbageAttempts) {
				t.Fatalf("attempt %d: aside %v, %v", i, aside, err)
			}
		}
		if aside, err := s.FailedGarbage(ctx, broken, "DAG bundle is current", true); err != nil || !aside {
			t.Fatalf("a refusal is set aside at once: %v %v", aside, err)
		}
		left, err := s.PendingGarbageAfter(ctx, Garbage{}, 10)
		if err != nil || len(left) != 3 {
			t.Fatalf("rows set aside must be skipped: %+v %v", left, err)
		}
		list, n, err := s.SetAsideGarbage(ctx, 1)
		if err != nil || n != 2 || len(list) != 1 || list[0].Attempts != MaxGarbageAttempts || list[0].LastError != "docker daemon unreachable" {
			t.Fatalf("set aside: %+v %d %v", list, n, err)
		}
		if released, err := s.ReleaseGarbage(ctx); err != nil || released != 2 {
			t.Fatalf("release: %d %v", released, err)
		}
		if all, _ := s.PendingGarbageAfter(ctx, Garbage{}, 10); len(all) != 5 {
			t.Fatalf("after release: %d rows pending", len(all))
		}
	})
}
