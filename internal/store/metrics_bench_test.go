package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// BenchmarkMetricsAt100k times DeliveryMetrics (issue 30) over a database
// holding a deployment with 100,000 revisions, one a minute up to now
// (so a 30-day window holds 43,200 of them), each 10th rolled back (a
// third of those automatically), each 25th FAILED, each 50th forced past
// the guard, all with commit times; and 20 noise deployments that deploy
// after every 5th of its revisions (120,000 rows in all).
//
//	REWIND_TEST_POSTGRES_URL=… go test ./internal/store/ -run '^$' -bench BenchmarkMetricsAt100k -benchtime 20x
//
// Sub-benchmarks: one is the big deployment's metrics over 30 days; all
// is every deployment's, per deployment and in total, over 30 days; year
// is every deployment's over 365 days (every row). ns/op is one call.
// make bench runs it (bench/metrics.sh); numbers in docs/performance.md.
func BenchmarkMetricsAt100k(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchMetrics(b, "sqlite://"+filepath.Join(b.TempDir(), "rewind.db"))
	})
	b.Run("postgres", func(b *testing.B) {
		benchMetrics(b, PostgresTestURL(b))
	})
}

func benchMetrics(b *testing.B, url string) {
	s, err := Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC()
	seedMetrics(b, s, now)
	for _, c := range []struct {
		name string
		days int
		deps []string
	}{
		{"one", 30, []string{histBig}},
		{"all", 30, nil},
		{"year", 365, nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			bucket := 24 * time.Hour
			if c.days > 60 {
				bucket *= 7
			}
			q := MetricsQuery{Since: now.Add(-time.Duration(c.days) * 24 * time.Hour), Until: now.Add(time.Minute), Deployments: c.deps, Bucket: bucket}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m, err := s.DeliveryMetrics(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if m.All.Deploys == 0 || m.All.RolledBack == 0 || m.All.LeadTime.N == 0 || m.All.Recovery.N == 0 {
					b.Fatalf("nothing counted: %+v", m.All.DeliveryCounts)
				}
			}
		})
	}
}

// seedMetrics writes the history BenchmarkMetricsAt100k reads, finished,
// in time order, in one transaction of multi-row INSERTs.
func seedMetrics(b *testing.B, s *Store, now time.Time) {
	ctx := context.Background()
	start := time.Now()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	first := now.Add(-histBigN * time.Minute)
	deps := []string{histBig}
	for i := range histNoise {
		deps = append(deps, fmt.Sprintf("hist-noise-%02d", i))
	}
	for _, d := range deps {
		if _, err := tx.ExecContext(ctx, `INSERT INTO deployments (id, name, dag_source, created_at, updated_at) VALUES ($1, $1, 'image', $2, $2)`,
			d, micros(first)); err != nil {
			b.Fatal(err)
		}
	}
	const perStmt = 500
	var (
		rows []string
		args []any
		last = map[string]int{}
	)
	flush := func() {
		if len(rows) == 0 {
			return
		}
		q := `INSERT INTO revisions (deployment_id, number, created_at, created_by, description, type, image_ref, image_digest,
			runtime_version, airflow_version, status, workflow_id, run_id, finished_at, rollback_of, rolled_back_from, forced_past,
			git_commit, git_committed_at) VALUES ` + strings.Join(rows, ",")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			b.Fatal(err)
		}
		rows, args = rows[:0], args[:0]
	}
	add := func(dep string, at time.Time) {
		last[dep]++
		n := last[dep]
		status, by, rollbackOf, from, forced, committed := domain.StatusDeployed, "bench", 0, 0, 0, micros(at.Add(-time.Duration(n%360)*time.Minute))
		switch {
		case n%10 == 0 && n > 2: // a rollback of the one before, to the one before that
			rollbackOf, from, committed = n-2, n-1, 0
			if n%30 == 0 {
				by = domain.AutomaticRequester
			}
		case n%25 == 0:
			status = domain.StatusFailed
		case n%50 == 1:
			forced = n - 1
		}
		k := len(args)
		ph := make([]string, 12)
		for i := range ph {
			ph[i] = fmt.Sprintf("$%d", k+i+1)
		}
		rows = append(rows, fmt.Sprintf(`(%s, %s, %s, %s, 'bench', 'IMAGE_AND_DAG', '127.0.0.1:5000/airflow:9.1.0', 'sha256:0', '9.1.0', '3.0.2', %s, %s, %s, %s, %s, %s, %s, '0123abcd', %s)`,
			ph[0], ph[1], ph[2], ph[3], ph[4], ph[5], ph[6], ph[7], ph[8], ph[9], ph[10], ph[11]))
		args = append(args, dep, n, micros(at.Add(-time.Minute)), by, string(status), "change/"+dep, fmt.Sprintf("%s-%d", dep, n),
			micros(at), rollbackOf, from, forced, committed)
		if len(rows) == perStmt {
			flush()
		}
	}
	for i := range histBigN {
		at := first.Add(time.Duration(i) * time.Minute)
		add(histBig, at)
		if i%5 == 0 {
			add(deps[1+(i/5)%histNoise], at)
		}
	}
	flush()
	for _, d := range deps {
		if _, err := tx.ExecContext(ctx, `UPDATE deployments SET last_revision=$2, current_revision=$2 WHERE id=$1`, d, last[d]); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	if s.Dialect() == "sqlite3" {
		// One 120,000-row transaction leaves every page in the WAL; a
		// database that grew a deploy at a time has long checkpointed them.
		if _, err := s.DB().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
	}
	var total int
	s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM revisions`).Scan(&total)
	b.Logf("%s: seeded %d revisions (%s %d) in %s", s.Dialect(), total, histBig, last[histBig], time.Since(start).Round(time.Millisecond))
}
