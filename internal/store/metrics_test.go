package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// metricsT0 is the start of the hand-built history's window: a week of
// one-day buckets.
var metricsT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// change is one hand-built revision: when it finished (nil: still
// INITIALIZED), its commit time (nil: none recorded).
type change struct {
	dep                      string
	rollbackOf, from, forced int
	by                       string
	status                   domain.Status
	finished, committed      *time.Duration // offsets from metricsT0
}

func at(d time.Duration) *time.Duration { return &d }

func seedMetricsHistory(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	const h, day = time.Hour, 24 * time.Hour
	D, F := domain.StatusDeployed, domain.StatusFailed
	auto := domain.AutomaticRequester
	history := []change{
		// a: before the window, then a week of deploys, a rollback by a
		// person, a forced deploy, a failure, an automatic rollback, commit
		// times missing or after the deploy, and a change still running.
		{dep: "a", status: D, finished: at(-h), committed: at(-3 * h)},                                       // #1 outside
		{dep: "a", status: D, finished: at(h), committed: at(0)},                                             // #2 lead 1h
		{dep: "a", status: D, finished: at(day + 2*h), committed: at(day)},                                   // #3 lead 2h, rolled back
		{dep: "a", rollbackOf: 2, from: 3, by: "alice", status: D, finished: at(day + 2*h + 30*time.Minute)}, // #4 recovery 30m
		{dep: "a", forced: 4, status: D, finished: at(2 * day), committed: at(2*day - 4*h)},                  // #5 lead 4h, forced
		{dep: "a", status: F, finished: at(2*day + h), committed: at(2 * day)},                               // #6 failed
		{dep: "a", status: D, finished: at(3 * day)},                                                         // #7 no commit time, rolled back
		{dep: "a", rollbackOf: 5, from: 7, by: auto, status: D, finished: at(3*day + 10*time.Minute)},        // #8 automatic, recovery 10m
		{dep: "a", status: D, finished: at(4 * day), committed: at(4*day + h)},                               // #9 commit after the deploy
		{dep: "a", status: domain.StatusInitialized},                                                         // #10 running
		// b: an automatic rollback, a failed rollback, a deploy after the window.
		{dep: "b", status: D, finished: at(5 * day), committed: at(5*day - 8*h)},            // #1 lead 8h
		{dep: "b", status: D, finished: at(5*day + h), committed: at(5 * day)},              // #2 lead 1h, rolled back
		{dep: "b", rollbackOf: 1, from: 2, by: auto, status: D, finished: at(5*day + 3*h)},  // #3 recovery 2h
		{dep: "b", rollbackOf: 1, from: 3, by: "bob", status: F, finished: at(5*day + 4*h)}, // #4 failed rollback
		{dep: "b", status: D, finished: at(8 * day), committed: at(7 * day)},                // #5 after the window
		// c: one deploy.
		{dep: "c", status: D, finished: at(6 * day), committed: at(6*day - 30*time.Minute)}, // #1 lead 30m
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := s.CreateDeployment(ctx, deployment(id)); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range history {
		r := revision(c.dep, fmt.Sprintf("run-%d", i))
		r.RollbackOf, r.RolledBackFrom, r.ForcedPast = c.rollbackOf, c.from, c.forced
		if c.by != "" {
			r.CreatedBy = c.by
		}
		if c.finished != nil {
			r.CreatedAt = metricsT0.Add(*c.finished - time.Minute)
		}
		if c.committed != nil {
			ct := metricsT0.Add(*c.committed)
			r.Git = &domain.GitInfo{Commit: "0123abcd", CommittedAt: &ct}
		}
		r, err := s.CreateRevision(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if c.finished == nil {
			continue
		}
		if _, err := s.FinishRevision(ctx, Finish{DeploymentID: c.dep, Number: r.Number, Status: c.status, At: metricsT0.Add(*c.finished)}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeliveryMetricsOnAHandBuiltHistory(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		seedMetricsHistory(t, s)
		const h, m = time.Hour, time.Minute
		q := MetricsQuery{Since: metricsT0, Until: metricsT0.Add(7 * 24 * h), Bucket: 24 * h}

		got, err := s.DeliveryMetrics(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]DeliveryFigures{
			"a": {DeliveryCounts: DeliveryCounts{Deploys: 5, FailedDeploys: 1, RolledBack: 2, Rollbacks: 2, AutomaticRollbacks: 1, ForcedDeploys: 1, LeadTimeMissing: 2},
				LeadTime: Percentiles{N: 3, Median: 2 * h, P90: 4 * h}, Recovery: Percentiles{N: 2, Median: 10 * m, P90: 30 * m}},
			"b": {DeliveryCounts: DeliveryCounts{Deploys: 2, RolledBack: 1, Rollbacks: 1, AutomaticRollbacks: 1},
				LeadTime: Percentiles{N: 2, Median: h, P90: 8 * h}, Recovery: Percentiles{N: 1, Median: 2 * h, P90: 2 * h}},
			"c": {DeliveryCounts: DeliveryCounts{Deploys: 1}, LeadTime: Percentiles{N: 1, Median: 30 * m, P90: 30 * m}},
			"": {DeliveryCounts: DeliveryCounts{Deploys: 8, FailedDeploys: 1, RolledBack: 3, Rollbacks: 3, AutomaticRollbacks: 2, ForcedDeploys: 1, LeadTimeMissing: 2},
				LeadTime: Percentiles{N: 6, Median: h, P90: 8 * h}, Recovery: Percentiles{N: 3, Median: 30 * m, P90: 2 * h}},
		}
		check := func(name string, g, w DeliveryFigures) {
			t.Helper()
			if g.DeliveryCounts != w.DeliveryCounts || g.LeadTime != w.LeadTime || g.Recovery != w.Recovery {
				t.Errorf("%s:\n got %+v lead %+v recovery %+v\nwant %+v lead %+v recovery %+v", name,
					g.DeliveryCounts, g.LeadTime, g.Recovery, w.DeliveryCounts, w.LeadTime, w.Recovery)
			}
			if len(g.Trend) != 7 {
				t.Errorf("%s: %d buckets, want 7", name, len(g.Trend))
			}
		}
		// Across deployments, each deployment's counts (its percentiles
		// come from asking about it alone, below).
		checkCounts := func(name string, g, w DeliveryFigures) {
			t.Helper()
			if g.DeliveryCounts != w.DeliveryCounts {
				t.Errorf("%s:\n got %+v lead %+v recovery %+v\nwant %+v lead %+v recovery %+v", name,
					g.DeliveryCounts, g.LeadTime, g.Recovery, w.DeliveryCounts, w.LeadTime, w.Recovery)
			}
			if len(g.Trend) != 7 {
				t.Errorf("%s: %d buckets, want 7", name, len(g.Trend))
			}
		}
		check("all", got.All, want[""])
		if len(got.PerDeployment) != 3 {
			t.Errorf("per deployment: %v", got.DeploymentIDs())
		}
		for _, id := range []string{"a", "b", "c"} {
			checkCounts(id, got.PerDeployment[id], want[id])
			alone := q
			alone.Deployments = []string{id}
			one, err := s.DeliveryMetrics(ctx, alone)
			if err != nil {
				t.Fatal(err)
			}
			check(id+" alone", one.All, want[id])
			check(id+" alone, per deployment", one.PerDeployment[id], want[id])
		}
		// The trend: deployment a's days, one bucket each.
		tr := got.PerDeployment["a"].Trend
		for day, w := range []DeliveryCounts{
			{Deploys: 1},
			{Deploys: 1, RolledBack: 1, Rollbacks: 1},
			{Deploys: 1, ForcedDeploys: 1, FailedDeploys: 1},
			{Deploys: 1, RolledBack: 1, LeadTimeMissing: 1, Rollbacks: 1, AutomaticRollbacks: 1},
			{Deploys: 1, LeadTimeMissing: 1},
			{}, {},
		} {
			if tr[day].DeliveryCounts != w || !tr[day].Start.Equal(metricsT0.Add(time.Duration(day)*24*h)) {
				t.Errorf("a, day %d (%s): got %+v, want %+v", day, tr[day].Start, tr[day].DeliveryCounts, w)
			}
		}

		// Restricted to the deployments a caller may read: the totals are a's.
		q.Deployments = []string{"a"}
		only, err := s.DeliveryMetrics(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		check("only a", only.All, want["a"])
		if len(only.PerDeployment) != 1 {
			t.Errorf("only a: got %v", only.DeploymentIDs())
		}
		// None readable: nothing at all, without asking the database.
		q.Deployments = []string{}
		none, err := s.DeliveryMetrics(ctx, q)
		if err != nil || none.All.Deploys != 0 || len(none.PerDeployment) != 0 || len(none.All.Trend) != 7 {
			t.Errorf("none: %+v, %v", none.All.DeliveryCounts, err)
		}
		// A hostile window is refused, typed.
		for _, bad := range []MetricsQuery{
			{Since: q.Until, Until: q.Since, Bucket: h},
			{Since: q.Since, Until: q.Until, Bucket: 0},
			{Since: q.Since, Until: q.Since.Add(1000 * h), Bucket: h},
		} {
			if _, err := s.DeliveryMetrics(ctx, bad); domain.TypeOf(err) != domain.InvalidInput {
				t.Errorf("%+v: %v, want InvalidInput", bad, err)
			}
		}
		// The commit time travels with the revision.
		r, err := s.GetRevision(ctx, "a", 2)
		if err != nil || r.Git == nil || r.Git.CommittedAt == nil || !r.Git.CommittedAt.Equal(metricsT0) {
			t.Errorf("a#2 git: %+v, %v", r.Git, err)
		}
	})
}
