package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkHistoryAt100k times the Deploy History read (ListRevisions, 20
// rows newest first, as `rewind history` and the page ask for) on a
// deployment with 100,000 revisions, against the same read on a deployment
// with 100 in the same database (issue 9, "history listing latency at
// 100,000 revisions"). HistoryQuery walks the primary key backwards, so the
// two should cost the same: the ratio metric is big/small.
//
//	REWIND_TEST_POSTGRES_URL=… go test ./internal/store/ -run '^$' -bench BenchmarkHistoryAt100k -benchtime 2000x
//
// Sub-benchmarks: newest is the first page; middle is a page from the
// middle of the history (before = half the count). Each iteration reads
// once from each deployment; ns/op is the 100,000-revision read alone,
// base-ns/op the 100-revision one. Numbers in docs/soak.md.
func BenchmarkHistoryAt100k(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchHistory(b, "sqlite://"+filepath.Join(b.TempDir(), "rewind.db"))
	})
	b.Run("postgres", func(b *testing.B) {
		benchHistory(b, PostgresTestURL(b))
	})
}

const (
	histBig, histBigN     = "hist-big", 100_000
	histSmall, histSmallN = "hist-small", 100
	histNoise             = 20 // deployments that deploy between the big one's revisions
)

func benchHistory(b *testing.B, url string) {
	s, err := Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	seedHistory(b, s)
	for _, c := range []struct {
		name               string
		bigBefore, smallBf int
	}{
		{"newest", 0, 0},
		{"middle", histBigN/2 + 1, histSmallN/2 + 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			read := func(dep string, before, wantTop int) time.Duration {
				start := time.Now()
				revs, err := s.ListRevisions(ctx, dep, 20, before)
				took := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if len(revs) != 20 || revs[0].Number != wantTop || revs[19].Number != wantTop-19 {
					b.Fatalf("%s before %d: got %d revisions from %d", dep, before, len(revs), revs[0].Number)
				}
				return took
			}
			bigTop, smallTop := histBigN, histSmallN
			if c.bigBefore > 0 {
				bigTop, smallTop = c.bigBefore-1, c.smallBf-1
			}
			var big, small time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Alternate which goes first, so neither always finds the
				// other's pages warm.
				if i%2 == 0 {
					big += read(histBig, c.bigBefore, bigTop)
					small += read(histSmall, c.smallBf, smallTop)
				} else {
					small += read(histSmall, c.smallBf, smallTop)
					big += read(histBig, c.bigBefore, bigTop)
				}
			}
			b.ReportMetric(float64(big.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(float64(small.Nanoseconds())/float64(b.N), "base-ns/op")
			b.ReportMetric(float64(big)/float64(small), "ratio")
		})
	}
}

// seedHistory writes the big deployment's 100,000 revisions, the small
// one's 100 and a revision of one of 20 noise deployments after every 5th
// of the big one's, in time order (so the big deployment's rows are spread
// through the table as they would be in life), in one transaction of
// multi-row INSERTs.
func seedHistory(b *testing.B, s *Store) {
	ctx := context.Background()
	start := time.Now()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	now := time.Now().Add(-histBigN * time.Minute)
	deps := []string{histBig, histSmall}
	for i := range histNoise {
		deps = append(deps, fmt.Sprintf("hist-noise-%02d", i))
	}
	last := map[string]int{}
	for _, d := range deps {
		if _, err := tx.ExecContext(ctx, `INSERT INTO deployments (id, name, dag_source, created_at, updated_at) VALUES ($1, $1, 'image', $2, $2)`,
			d, micros(now)); err != nil {
			b.Fatal(err)
		}
	}
	const perStmt = 1000
	var (
		rows []string
		args []any
	)
	flush := func() {
		if len(rows) == 0 {
			return
		}
		q := `INSERT INTO revisions (deployment_id, number, created_at, created_by, description, type, image_ref, image_digest,
			runtime_version, airflow_version, status, workflow_id, run_id) VALUES ` + strings.Join(rows, ",")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			b.Fatal(err)
		}
		rows, args = rows[:0], args[:0]
	}
	add := func(dep string, at time.Time) {
		last[dep]++
		n := len(args)
		rows = append(rows, fmt.Sprintf(`($%d, $%d, $%d, 'bench', 'bench deploy', 'IMAGE_AND_DAG', '127.0.0.1:5000/airflow:9.1.0', $%d, '9.1.0', '3.0.2', 'DEPLOYED', $%d, $%d)`,
			n+1, n+2, n+3, n+4, n+5, n+6))
		args = append(args, dep, last[dep], micros(at), fmt.Sprintf("sha256:%064d", last[dep]%7), "change/"+dep, fmt.Sprintf("%s-%d", dep, last[dep]))
		if len(rows) == perStmt {
			flush()
		}
	}
	for i := range histBigN {
		at := now.Add(time.Duration(i) * time.Minute)
		add(histBig, at)
		if i%5 == 0 {
			add(deps[2+(i/5)%histNoise], at)
		}
		if i%1000 == 0 && last[histSmall] < histSmallN {
			add(histSmall, at)
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
	var total int
	s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM revisions`).Scan(&total)
	if last[histBig] != histBigN || last[histSmall] != histSmallN {
		b.Fatalf("seeded big %d, small %d", last[histBig], last[histSmall])
	}
	b.Logf("%s: seeded %d revisions (%s %d, %s %d, %d noise deployments) in %s", s.Dialect(), total,
		histBig, histBigN, histSmall, histSmallN, histNoise, time.Since(start).Round(time.Millisecond))
}
