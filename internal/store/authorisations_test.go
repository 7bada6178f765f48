package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A signature's nonce is accepted by one run only; the same run may ask
// again (a retried activity); expired rows are forgotten.
func TestSignaturesAreUsedOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, url string, s *Store) {
		ctx := context.Background()
		now := time.Now()
		u := UsedSignature{Nonce: "n1", WorkflowID: "change/d1", RunID: "r1", UsedAt: now}
		first, err := s.UseSignature(ctx, u, now.Add(-time.Hour))
		if err != nil || first.RunID != "r1" {
			t.Fatalf("first use: %+v, %v", first, err)
		}
		if first, err = s.UseSignature(ctx, u, now.Add(-time.Hour)); err != nil || first.RunID != "r1" {
			t.Fatalf("the same run again: %+v, %v", first, err)
		}
		replay := UsedSignature{Nonce: "n1", WorkflowID: "change/d1", RunID: "r2", UsedAt: now.Add(time.Second)}
		if first, err = s.UseSignature(ctx, replay, now.Add(-time.Hour)); err != nil || first.RunID != "r1" || first.WorkflowID != "change/d1" {
			t.Fatalf("another run must see the first: %+v, %v", first, err)
		}
		// Once the row is older than what can still verify, it goes.
		other := UsedSignature{Nonce: "n2", WorkflowID: "change/d1", RunID: "r3", UsedAt: now}
		if _, err := s.UseSignature(ctx, other, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM used_signatures`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("rows after forgetting: %d, %v", n, err)
		}
	})
}

// A bake's decision authorises one rollback run, with that input, recently.
func TestBakeDecisionsAreUsedOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, url string, s *Store) {
		ctx := context.Background()
		now := time.Now()
		b := BakeDecision{BakeRunID: "bake1", DeploymentID: "d1", InputDigest: "sha256:aa", EnabledBy: "alice", DecidedAt: now}
		if err := s.RecordBakeDecision(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordBakeDecision(ctx, BakeDecision{BakeRunID: "bake1", DeploymentID: "d1", InputDigest: "sha256:bb", EnabledBy: "mallory", DecidedAt: now}); err != nil {
			t.Fatal(err)
		}
		since := now.Add(-time.Minute)
		for name, c := range map[string]struct{ dep, digest string }{"other input": {"d1", "sha256:bb"}, "other deployment": {"d2", "sha256:aa"}} {
			if _, ok, err := s.UseBakeDecision(ctx, c.dep, c.digest, "rx", since); ok || err != nil {
				t.Fatalf("%s: %v %v", name, ok, err)
			}
		}
		if _, ok, err := s.UseBakeDecision(ctx, "d1", "sha256:aa", "rx", now.Add(time.Minute)); ok || err != nil {
			t.Fatalf("too old: %v %v", ok, err)
		}
		// Racing runs: exactly one gets it.
		var wg sync.WaitGroup
		wins := make(chan string, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(run string) {
				defer wg.Done()
				if got, ok, err := s.UseBakeDecision(ctx, "d1", "sha256:aa", run, since); err == nil && ok && got.EnabledBy == "alice" {
					wins <- run
				}
			}(string(rune('a' + i)))
		}
		wg.Wait()
		close(wins)
		var won []string
		for w := range wins {
			won = append(won, w)
		}
		if len(won) != 1 {
			t.Fatalf("runs that used the decision: %v", won)
		}
		if _, ok, err := s.UseBakeDecision(ctx, "d1", "sha256:aa", won[0], since); !ok || err != nil {
			t.Fatalf("the run that used it, retried: %v %v", ok, err)
		}
	})
}

// Only bake runs a deploy started, for that revision, may decide.
func TestBakeRunsAreRecorded(t *testing.T) {
	eachStore(t, func(t *testing.T, url string, s *Store) {
		ctx := context.Background()
		now := time.Now()
		if err := s.RecordBakeRun(ctx, "run1", "d1", 3, now, now.Add(-48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			run, dep string
			rev      int
			want     bool
		}{{"run1", "d1", 3, true}, {"run2", "d1", 3, false}, {"run1", "d2", 3, false}, {"run1", "d1", 2, false}} {
			if ok, err := s.IsBakeRun(ctx, c.run, c.dep, c.rev); err != nil || ok != c.want {
				t.Errorf("%+v: %v %v", c, ok, err)
			}
		}
		if err := s.RecordBakeRun(ctx, "run3", "d1", 4, now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.IsBakeRun(ctx, "run1", "d1", 3); ok {
			t.Fatal("a bake run from before forgetBefore must be forgotten")
		}
	})
}
