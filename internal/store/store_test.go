package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// Every test here runs against SQLite and PostgreSQL. `make test` starts a
// throwaway PostgreSQL and sets REWIND_TEST_POSTGRES_URL.
func eachStore(t *testing.T, fn func(t *testing.T, url string, s *Store)) {
	t.Run("sqlite", func(t *testing.T) {
		url := "sqlite://" + filepath.Join(t.TempDir(), "rewind.db")
		fn(t, url, open(t, url))
	})
	t.Run("postgres", func(t *testing.T) {
		url := PostgresTestURL(t)
		fn(t, url, open(t, url))
	})
}

func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func deployment(id string) domain.Deployment {
	return domain.Deployment{ID: id, Name: "Deployment " + id, DagSource: domain.DagSourceBundle, DagDeployEnabled: true,
		Env: map[string]string{"AIRFLOW__CORE__LOAD_EXAMPLES": "False"}, Resources: domain.Resources{Executor: "CeleryExecutor", Workers: 2},
		Components: domain.DefaultComponents()}
}

func revision(dep, run string) domain.Revision {
	return domain.Revision{DeploymentID: dep, CreatedAt: time.Now(), CreatedBy: "alice", Type: domain.DeployImageAndDAG,
		ImageRef: "127.0.0.1:5000/airflow:1", WorkflowID: "change/" + dep, RunID: run}
}

func TestDeployments(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		if err := s.CreateDeployment(ctx, deployment("d1")); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateDeployment(ctx, deployment("d1")); domain.TypeOf(err) != domain.AlreadyExists {
			t.Fatalf("duplicate create: %v", err)
		}
		d, err := s.GetDeployment(ctx, "d1")
		if err != nil || d.Env["AIRFLOW__CORE__LOAD_EXAMPLES"] != "False" || len(d.Components) != 5 || d.Resources.Workers != 2 {
			t.Fatalf("round trip: %+v %v", d, err)
		}
		d.RollbackEnabled = true
		d.Env["X"] = "1"
		if err := s.UpdateDeploymentSettings(ctx, d); err != nil {
			t.Fatal(err)
		}
		d2, _ := s.GetDeployment(ctx, "d1")
		if !d2.RollbackEnabled || d2.Env["X"] != "1" {
			t.Fatalf("update lost: %+v", d2)
		}
		if _, err := s.GetDeployment(ctx, "nope"); domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("missing: %v", err)
		}
		if err := s.UpdateDeploymentSettings(ctx, deployment("nope")); domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("update missing: %v", err)
		}
		for _, id := range []string{"d3", "d2"} {
			if err := s.CreateDeployment(ctx, deployment(id)); err != nil {
				t.Fatal(err)
			}
		}
		page, err := s.ListDeployments(ctx, "d1", 10)
		if err != nil || len(page) != 2 || page[0].ID != "d2" || page[1].ID != "d3" {
			t.Fatalf("list after d1: %v %v", page, err)
		}
	})
}

func TestGrants(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		s.CreateDeployment(ctx, deployment("d1"))
		g := domain.Grant{User: "alice", DeploymentID: "d1", Role: "editor"}
		for i := 0; i < 2; i++ {
			if err := s.AddGrant(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddGrant(ctx, domain.Grant{User: "alice", Permission: "system.deployments.images.push"}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddGrant(ctx, domain.Grant{User: "alice", DeploymentID: "ghost", Role: "editor"}); domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("grant on a missing deployment: %v", err)
		}
		gs, err := s.GrantsFor(ctx, "alice")
		if err != nil || len(gs) != 2 {
			t.Fatalf("grants: %v %v", gs, err)
		}
		if err := s.RevokeGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeGrant(ctx, g); domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("second revoke: %v", err)
		}
		if gs, _ := s.GrantsFor(ctx, "alice"); len(gs) != 1 || gs[0].Permission != "system.deployments.images.push" {
			t.Fatalf("after revoke: %v", gs)
		}
	})
}

func TestRevisionLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		s.CreateDeployment(ctx, deployment("d1"))
		r1, err := s.CreateRevision(ctx, revision("d1", "run-1"))
		if err != nil || r1.Number != 1 || r1.Status != domain.StatusInitialized {
			t.Fatalf("first: %+v %v", r1, err)
		}
		again, err := s.CreateRevision(ctx, revision("d1", "run-1"))
		if err != nil || again.Number != 1 {
			t.Fatalf("a retried record must return the same revision: %+v %v", again, err)
		}
		_, err = s.CreateRevision(ctx, revision("d1", "run-2"))
		var busy *InProgressError
		if !errors.As(err, &busy) || busy.Holder.RunID != "run-1" {
			t.Fatalf("second change while the first runs (R14): %v", err)
		}
		if err := s.SetArtifacts(ctx, "d1", 1, Artifacts{ImageDigest: "sha256:abc", RuntimeVersion: "9.1.0"}); err != nil {
			t.Fatal(err)
		}
		fin := Finish{DeploymentID: "d1", Number: 1, Status: domain.StatusDeployed, At: time.Now()}
		for i := 0; i < 2; i++ {
			if _, err := s.FinishRevision(ctx, fin); err != nil {
				t.Fatalf("finish #%d: %v", i, err)
			}
		}
		if _, err := s.FinishRevision(ctx, Finish{DeploymentID: "d1", Number: 1, Status: domain.StatusFailed, At: time.Now()}); err == nil {
			t.Fatal("a DEPLOYED revision must not become FAILED (R1)")
		}
		if err := s.SetArtifacts(ctx, "d1", 1, Artifacts{ImageDigest: "sha256:other"}); err == nil {
			t.Fatal("a DEPLOYED revision's artifacts must not change (R1)")
		}
		d, _ := s.GetDeployment(ctx, "d1")
		got, _ := s.GetRevision(ctx, "d1", 1)
		if d.CurrentRevision != 1 || got.ImageDigest != "sha256:abc" || got.FinishedAt == nil {
			t.Fatalf("after deploy: current=%d rev=%+v", d.CurrentRevision, got)
		}
		r2, err := s.CreateRevision(ctx, revision("d1", "run-2"))
		if err != nil || r2.Number != 2 {
			t.Fatalf("after the first finished: %+v %v", r2, err)
		}
		if _, err := s.FinishRevision(ctx, Finish{DeploymentID: "d1", Number: 2, Status: domain.StatusFailed, Reason: "pull failed", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		d, _ = s.GetDeployment(ctx, "d1")
		if d.CurrentRevision != 1 {
			t.Fatalf("a failed deploy must leave the current revision: %d", d.CurrentRevision)
		}
		if n, _ := s.LatestDeployed(ctx, "d1"); n != 1 {
			t.Fatalf("latest deployed: %d", n)
		}
		if _, err := s.CreateRevision(ctx, revision("ghost", "run-x")); domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("revision of a missing deployment: %v", err)
		}
		if _, err := s.GetRevision(ctx, "d1", 99); domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("missing revision: %v", err)
		}
	})
}

func TestRollbackRestoresDagDeploySetting(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		d := deployment("d1")
		d.DagDeployEnabled = false
		s.CreateDeployment(ctx, d)
		r := revision("d1", "run-1")
		r.DagDeployEnabled = true
		r.RollbackOf = 1
		s.CreateRevision(ctx, r)
		if _, err := s.FinishRevision(ctx, Finish{DeploymentID: "d1", Number: 1, Status: domain.StatusDeployed, At: time.Now(), RestoreDagDeploy: true}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetDeployment(ctx, "d1"); !got.DagDeployEnabled {
			t.Fatal("R4: the rollback must restore the target's DAG deploy setting")
		}
	})
}

// Writers on separate connections pools (as separate workers would be) race
// for one deployment: numbers come out 1..N with no gap and no duplicate,
// and every run gets exactly one revision.
func TestRacingWritersGetGapFreeNumbers(t *testing.T) {
	eachStore(t, func(t *testing.T, url string, s *Store) {
		ctx := context.Background()
		s.CreateDeployment(ctx, deployment("race"))
		const writers, each = 4, 15
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := 0; w < writers; w++ {
			ws := open(t, url)
			wg.Add(1)
			go func(w int, ws *Store) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					run := fmt.Sprintf("w%d-%d", w, i)
					for {
						r, err := ws.CreateRevision(ctx, revision("race", run))
						var busy *InProgressError
						if errors.As(err, &busy) {
							time.Sleep(time.Millisecond)
							continue
						}
						if err != nil {
							errs <- err
							return
						}
						if _, err := ws.FinishRevision(ctx, Finish{DeploymentID: "race", Number: r.Number, Status: domain.StatusDeployed, At: time.Now()}); err != nil {
							errs <- err
							return
						}
						break
					}
				}
			}(w, ws)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		revs, err := s.ListRevisions(ctx, "race", 1000, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(revs) != writers*each {
			t.Fatalf("want %d revisions, have %d", writers*each, len(revs))
		}
		runs := map[string]bool{}
		for i, r := range revs {
			if want := writers*each - i; r.Number != want {
				t.Fatalf("position %d has number %d, want %d (gap or duplicate)", i, r.Number, want)
			}
			if runs[r.RunID] {
				t.Fatalf("run %s recorded twice", r.RunID)
			}
			runs[r.RunID] = true
		}
	})
}

func TestHistoryNewestFirstWithLimitAndPaging(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		s.CreateDeployment(ctx, deployment("d1"))
		s.CreateDeployment(ctx, deployment("d2"))
		for i := 1; i <= 7; i++ {
			for _, dep := range []string{"d1", "d2"} {
				r, err := s.CreateRevision(ctx, revision(dep, fmt.Sprintf("%s-%d", dep, i)))
				if err != nil {
					t.Fatal(err)
				}
				s.FinishRevision(ctx, Finish{DeploymentID: dep, Number: r.Number, Status: domain.StatusDeployed, At: time.Now()})
			}
		}
		top, err := s.ListRevisions(ctx, "d1", 3, 0)
		if err != nil || len(top) != 3 || top[0].Number != 7 || top[2].Number != 5 || top[0].DeploymentID != "d1" {
			t.Fatalf("top 3: %+v %v", top, err)
		}
		next, _ := s.ListRevisions(ctx, "d1", 3, top[2].Number)
		if len(next) != 3 || next[0].Number != 4 {
			t.Fatalf("next page: %+v", next)
		}
	})
}

// The history read must be served by the primary key, walking it backwards,
// not by scanning and sorting the table.
func TestHistoryUsesAnIndex(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		var plan []string
		switch s.Dialect() {
		case "sqlite3":
			p := sqlitePlan(t, s.DB(), HistoryQuery, "d1", 100, 10)
			// A composite text primary key is served by sqlite_autoindex_revisions_1.
			if !strings.HasPrefix(p, "SEARCH revisions USING INDEX sqlite_autoindex_revisions_1") || strings.Contains(p, "TEMP B-TREE") {
				t.Fatalf("plan: %s", p)
			}
		case "postgres":
			// A near-empty table makes a sequential scan cheapest; take that
			// option away to learn whether an index can serve the query.
			conn, _ := s.DB().Conn(ctx)
			defer conn.Close()
			conn.ExecContext(ctx, "SET enable_seqscan = off")
			rows, err := conn.QueryContext(ctx, "EXPLAIN "+strings.NewReplacer("$1", "'d1'", "$2", "100", "$3", "10").Replace(HistoryQuery))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var line string
				rows.Scan(&line)
				plan = append(plan, line)
			}
			rows.Close()
			p := strings.Join(plan, "; ")
			if !strings.Contains(p, "Index Scan Backward using revisions_pkey") || strings.Contains(p, "Sort") {
				t.Fatalf("plan: %s", p)
			}
		}
	})
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	if _, err := Open(context.Background(), "mysql://x"); err == nil {
		t.Fatal("unknown scheme must fail")
	}
}

// sqlitePlan is SQLite's query plan for q, its steps joined by "; ".
func sqlitePlan(t *testing.T, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, q string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		rows.Scan(&id, &parent, &notused, &detail)
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}
