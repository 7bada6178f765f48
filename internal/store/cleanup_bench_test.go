package store

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkCleanup seeds deployments × revisions and cleans them in one run
// of ExpireBatch pages (R12, issue 7). The default scale keeps
// `go test -bench .` quick; the scale is
//
//	REWIND_TEST_POSTGRES_URL=… REWIND_CLEANUP_BENCH_DEPLOYMENTS=10000 \
//	  go test ./internal/store/ -run '^$' -bench BenchmarkCleanup -benchtime 1x -timeout 60m
//
// (10,000 deployments × 100 revisions = 1,000,000 revisions). See
// docs/cleanup.md for the data shape and the numbers.
//
// Metrics: expire-s is the wall time of every ExpireBatch to the end,
// drain-s that of paging the outbox with PendingGarbage/DoneGarbage (no disk
// or Docker work), peak-heap-MB the highest Go HeapInuse sampled while both
// ran, heap-growth-MB how far that is above the heap before the run,
// peak-rss-MB the process's high-water RSS over the same span (SQLite
// runs in process, so its page cache counts), alloc-KB/batch the Go
// allocation per ExpireBatch.
func BenchmarkCleanup(b *testing.B) {
	deps := envInt(b, "REWIND_CLEANUP_BENCH_DEPLOYMENTS", 200)
	revs := envInt(b, "REWIND_CLEANUP_BENCH_REVISIONS", 100)
	batch := envInt(b, "REWIND_CLEANUP_BENCH_BATCH", 500)
	b.Run("sqlite", func(b *testing.B) {
		benchCleanup(b, "sqlite://"+filepath.Join(b.TempDir(), "rewind.db"), deps, revs, batch)
	})
	b.Run("postgres", func(b *testing.B) {
		benchCleanup(b, PostgresTestURL(b), deps, revs, batch)
	})
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// The history every deployment gets, revision n of R created (R-n)×10 days
// ago, so with a 90-day cutoff the newest 9 or 10 stay and the rest expire:
//   - image: one per 5 revisions of the deployment (DAG-only deploys in
//     between keep it), except every 20th revision, which uses one of R/20
//     images shared by every deployment;
//   - bundle version and object: one per revision;
//   - every revision n ≡ 9 (mod 10) is a rollback to n-4 and copies its
//     image, version and object;
//   - the current revision is the most recent, except in every 7th
//     deployment, where it is 5 below (a rollback there was followed by
//     failed deploys).
const (
	seedDeployments = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
	INSERT INTO deployments (id, name, dag_source, current_revision, last_revision, created_at, updated_at)
	SELECT 'dep-' || CAST(100000 + i AS TEXT), 'bench', 'bundle',
		CASE WHEN i % 7 = 0 THEN $2 - 5 ELSE $2 END, $2, $3, $3 FROM n`
	seedRevisions = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
	INSERT INTO revisions (deployment_id, number, created_at, created_by, type, image_digest,
		dag_bundle_version, dag_bundle_digest, status, rollback_of, workflow_id, run_id)
	SELECT x.dep, x.num, $2 - CAST($1 - x.num AS BIGINT) * 864000000000, 'bench', 'IMAGE_AND_DAG',
		CASE WHEN x.src % 20 = 0 THEN 'sha256:shared-' || CAST(x.src / 20 AS TEXT)
			ELSE 'sha256:img-' || x.dep || '-' || CAST(x.src / 5 AS TEXT) END,
		'v' || CAST(x.src AS TEXT), 'sha256:obj-' || x.dep || '-' || CAST(x.src AS TEXT),
		CASE WHEN x.num % 10 = 8 THEN 'FAILED' ELSE 'DEPLOYED' END,
		CASE WHEN x.src <> x.num THEN x.src ELSE 0 END,
		'change/' || x.dep, x.dep || '-' || CAST(x.num AS TEXT)
	FROM (SELECT d.id AS dep, n.i AS num, CASE WHEN n.i % 10 = 9 AND n.i > 4 THEN n.i - 4 ELSE n.i END AS src
		FROM deployments d, n WHERE d.id > $3 AND d.id <= $4) x`
)

func seedCleanup(b *testing.B, s *Store, deps, revs int, now time.Time) {
	ctx := context.Background()
	for _, q := range []string{`DELETE FROM garbage`, `DELETE FROM revisions`, `DELETE FROM deployments`} {
		if _, err := s.DB().ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := s.DB().ExecContext(ctx, seedDeployments, deps, revs, micros(now)); err != nil {
		b.Fatal(err)
	}
	// Revisions in transactions of about 100,000 rows.
	per := max(1, 100000/revs)
	for lo := 0; lo < deps; lo += per {
		hi := min(deps, lo+per)
		if _, err := s.DB().ExecContext(ctx, seedRevisions, revs, micros(now),
			"dep-"+strconv.Itoa(100000+lo), "dep-"+strconv.Itoa(100000+hi)); err != nil {
			b.Fatal(err)
		}
	}
	if s.Dialect() == "postgres" {
		// What autovacuum would have done to a table this size.
		if _, err := s.DB().ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
	var n int
	s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM revisions`).Scan(&n)
	if n != deps*revs {
		b.Fatalf("seeded %d revisions, want %d", n, deps*revs)
	}
	b.Logf("%s: seeded %d deployments × %d revisions in %s", s.Dialect(), deps, revs, time.Since(start).Round(time.Millisecond))
}

func benchCleanup(b *testing.B, url string, deps, revs, batch int) {
	s, err := Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	cutoff := now.AddDate(0, 0, -90)
	var expireTotal, drainTotal time.Duration
	var peakHeap, heapGrowth, peakRSS uint64
	var allocPerBatch float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		seedCleanup(b, s, deps, revs, now)
		runtime.GC()
		resetPeakRSS()
		stop := sampleHeap()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		base := before.HeapInuse
		b.StartTimer()

		start := time.Now()
		var total ExpireResult
		batches := 0
		after := ""
		for {
			r, err := s.ExpireBatch(ctx, cutoff, after, batch)
			if err != nil {
				b.Fatal(err)
			}
			if r.LastDeployment == "" {
				break
			}
			batches++
			total.Deployments += r.Deployments
			total.RevisionsDeleted += r.RevisionsDeleted
			total.GarbageAdded += r.GarbageAdded
			after = r.LastDeployment
		}
		expired := time.Since(start)
		var mid runtime.MemStats
		runtime.ReadMemStats(&mid)

		start = time.Now()
		drained := 0
		for {
			gs, err := s.PendingGarbage(ctx, 1000)
			if err != nil {
				b.Fatal(err)
			}
			if len(gs) == 0 {
				break
			}
			if err := s.DoneGarbage(ctx, gs); err != nil {
				b.Fatal(err)
			}
			drained += len(gs)
		}
		drain := time.Since(start)
		b.StopTimer()
		peak := stop()
		rss := peakRSSBytes()

		if total.Deployments != deps || drained != total.GarbageAdded {
			b.Fatalf("cleaned %+v, drained %d", total, drained)
		}
		var left int
		s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM revisions`).Scan(&left)
		b.Logf("%s: %d revisions → %d deleted, %d left, %d garbage, %d batches of %d; expire %s, drain %s; peak heap %.1f MB (+%.1f MB over the %.1f MB before), peak RSS %.1f MB, %.0f KB allocated per batch",
			s.Dialect(), deps*revs, total.RevisionsDeleted, left, total.GarbageAdded, batches, batch,
			expired.Round(time.Millisecond), drain.Round(time.Millisecond), float64(peak)/1e6, float64(peak-min(peak, base))/1e6, float64(base)/1e6, float64(rss)/1e6,
			float64(mid.TotalAlloc-before.TotalAlloc)/float64(max(1, batches))/1e3)
		expireTotal += expired
		drainTotal += drain
		peakHeap = max(peakHeap, peak)
		heapGrowth = max(heapGrowth, peak-min(peak, base))
		peakRSS = max(peakRSS, rss)
		allocPerBatch = float64(mid.TotalAlloc-before.TotalAlloc) / float64(max(1, batches))
		b.StartTimer()
	}
	b.ReportMetric(expireTotal.Seconds()/float64(b.N), "expire-s")
	b.ReportMetric(drainTotal.Seconds()/float64(b.N), "drain-s")
	b.ReportMetric(float64(peakHeap)/1e6, "peak-heap-MB")
	b.ReportMetric(float64(heapGrowth)/1e6, "heap-growth-MB")
	b.ReportMetric(float64(peakRSS)/1e6, "peak-rss-MB")
	b.ReportMetric(allocPerBatch/1e3, "alloc-KB/batch")
}

// sampleHeap records the highest HeapInuse until the returned func is called.
func sampleHeap() func() uint64 {
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	read := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		peak = max(peak, m.HeapInuse)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() uint64 {
		read()
		close(done)
		wg.Wait()
		return peak
	}
}

// resetPeakRSS clears the kernel's high-water mark (Linux ≥ 4.0), so
// VmHWM covers the cleanup alone, not the seeding before it.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSSBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
