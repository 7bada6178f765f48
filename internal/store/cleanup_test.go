package store

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// rev is a revision row as the cleanup tests need it: the fields cleanup
// reads, inserted directly so a test can build any history, including
// states the workflows would not produce (an old INITIALIZED row mid-history).
type rev struct {
	dep     string
	number  int
	created time.Time
	status  domain.Status
	image   string
	version string
	object  string
}

func insertRevs(t testing.TB, s *Store, rs ...rev) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, r := range rs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO revisions (deployment_id, number, created_at, created_by, type,
			image_digest, dag_bundle_version, dag_bundle_digest, status, workflow_id, run_id)
			VALUES ($1,$2,$3,'alice','IMAGE_AND_DAG',$4,$5,$6,$7,$8,$9)`,
			r.dep, r.number, micros(r.created), r.image, r.version, r.object, string(r.status),
			"change/"+r.dep, fmt.Sprintf("run-%d", r.number)); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deployments SET last_revision=$2 WHERE id=$1 AND last_revision < $2`, r.dep, r.number); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func setCurrent(t testing.TB, s *Store, dep string, n int) {
	t.Helper()
	if _, err := s.DB().Exec(`UPDATE deployments SET current_revision=$2 WHERE id=$1`, dep, n); err != nil {
		t.Fatal(err)
	}
}

// revKeys lists what revisions remain, as "dep/number", sorted.
func revKeys(t testing.TB, s *Store) []string {
	t.Helper()
	rows, err := s.DB().Query(`SELECT deployment_id, number FROM revisions ORDER BY deployment_id, number`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s/%d", d, n))
	}
	sort.Strings(out)
	return out
}

func allGarbage(t testing.TB, s *Store) []Garbage {
	t.Helper()
	gs, err := s.PendingGarbage(context.Background(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

func garbageStrings(gs []Garbage) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.Kind+":"+g.DeploymentID+":"+g.Ref)
	}
	sort.Strings(out)
	return out
}

func expireAll(t testing.TB, s *Store, cutoff time.Time, limit int) ExpireResult {
	t.Helper()
	var total ExpireResult
	after := ""
	for {
		r, err := s.ExpireBatch(context.Background(), cutoff, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if r.LastDeployment == "" {
			if r.Deployments != 0 || r.RevisionsDeleted != 0 || r.GarbageAdded != 0 {
				t.Fatalf("an empty page did work: %+v", r)
			}
			return total
		}
		if r.LastDeployment <= after || r.Deployments == 0 || r.Deployments > limit {
			t.Fatalf("batch after %q (limit %d) returned %+v", after, limit, r)
		}
		total.Deployments += r.Deployments
		total.RevisionsDeleted += r.RevisionsDeleted
		total.GarbageAdded += r.GarbageAdded
		total.LastDeployment = r.LastDeployment
		after = r.LastDeployment
	}
}

func TestExpireKeepsMostRecentCurrentAndInitialized(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		now := time.Now()
		old, recent, cutoff := now.AddDate(0, 0, -200), now.AddDate(0, 0, -1), now.AddDate(0, 0, -90)
		for _, id := range []string{"d1", "d2", "d3", "d4"} {
			if err := s.CreateDeployment(ctx, deployment(id)); err != nil {
				t.Fatal(err)
			}
		}
		insertRevs(t, s,
			rev{"d1", 1, old, domain.StatusDeployed, "img-a", "v1", "obj-a"},
			rev{"d1", 2, old, domain.StatusDeployed, "img-b", "v2", "obj-b"}, // current
			rev{"d1", 3, old, domain.StatusFailed, "img-c", "v3", "obj-c"},
			rev{"d1", 4, old, domain.StatusInitialized, "img-d", "v4", "obj-d"}, // a change in progress
			rev{"d1", 5, old, domain.StatusFailed, "img-a", "v5", "obj-e"},      // most recent; keeps img-a
			rev{"d2", 1, old, domain.StatusDeployed, "img-c", "v1", "obj-c"},
			rev{"d2", 2, recent, domain.StatusDeployed, "img-e", "v2", "obj-f"},
			rev{"d3", 1, recent, domain.StatusDeployed, "img-f", "v1", "obj-a"}, // keeps obj-a, not d1's v1
		)
		setCurrent(t, s, "d1", 2)
		setCurrent(t, s, "d2", 2)
		setCurrent(t, s, "d3", 1)

		got, err := s.ExpireBatch(ctx, cutoff, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := (ExpireResult{LastDeployment: "d4", Deployments: 4, RevisionsDeleted: 3, GarbageAdded: 5}); got != want {
			t.Fatalf("result %+v, want %+v", got, want)
		}
		if keys, want := revKeys(t, s), []string{"d1/2", "d1/4", "d1/5", "d2/2", "d3/1"}; strings.Join(keys, " ") != strings.Join(want, " ") {
			t.Fatalf("remaining %v, want %v", keys, want)
		}
		want := []string{"bundle-dir:d1:v1", "bundle-dir:d1:v3", "bundle-dir:d2:v1", "bundle-object::obj-c", "image::img-c"}
		if g := garbageStrings(allGarbage(t, s)); strings.Join(g, " ") != strings.Join(want, " ") {
			t.Fatalf("garbage %v, want %v", g, want)
		}
		if _, err := s.GetRevision(ctx, "d1", 1); domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("expired revision still readable: %v", err)
		}
		// The end of the deployments is an empty page.
		if r, err := s.ExpireBatch(ctx, cutoff, "d4", 10); err != nil || r != (ExpireResult{}) {
			t.Fatalf("after the last deployment: %+v %v", r, err)
		}
		if _, err := s.ExpireBatch(ctx, cutoff, "", 0); err == nil {
			t.Fatal("a zero limit must be refused")
		}
	})
}

// A rollback revision shares its target's image and bundle: expiring the old
// original must leave them alone. Built through the same API the workflows
// use.
func TestExpireKeepsWhatARollbackShares(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		now := time.Now()
		if err := s.CreateDeployment(ctx, deployment("d1")); err != nil {
			t.Fatal(err)
		}
		record := func(run string, at time.Time, a Artifacts, rollbackOf int) {
			r := revision("d1", run)
			r.CreatedAt, r.RollbackOf = at, rollbackOf
			r, err := s.CreateRevision(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetArtifacts(ctx, "d1", r.Number, a); err != nil {
				t.Fatal(err)
			}
			if _, err := s.FinishRevision(ctx, Finish{DeploymentID: "d1", Number: r.Number, Status: domain.StatusDeployed, At: at}); err != nil {
				t.Fatal(err)
			}
		}
		art := func(i int) Artifacts {
			return Artifacts{ImageDigest: fmt.Sprintf("sha256:img%d", i), DagBundleVersion: fmt.Sprintf("v%d", i), DagBundleDigest: fmt.Sprintf("sha256:obj%d", i)}
		}
		for i := 1; i <= 4; i++ {
			record(fmt.Sprintf("r%d", i), now.AddDate(0, 0, -200+i), art(i), 0)
		}
		record("r5", now.Add(-time.Hour), art(1), 1) // rollback to r1

		res, err := s.ExpireBatch(ctx, now.AddDate(0, 0, -90), "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if res.RevisionsDeleted != 4 || res.GarbageAdded != 9 {
			t.Fatalf("result %+v", res)
		}
		if keys := revKeys(t, s); len(keys) != 1 || keys[0] != "d1/5" {
			t.Fatalf("remaining %v", keys)
		}
		for _, g := range allGarbage(t, s) {
			if strings.HasSuffix(g.Ref, "1") {
				t.Fatalf("%+v is garbage but the rollback revision 5 still uses it", g)
			}
		}
		for _, g := range []Garbage{{GarbageImage, "", "sha256:img1", "local"}, {GarbageBundleObject, "", "sha256:obj1", ""}, {GarbageBundleDir, "d1", "v1", "local"}} {
			if ok, err := s.StillReferenced(ctx, g); err != nil || !ok {
				t.Fatalf("StillReferenced(%+v) = %v %v", g, ok, err)
			}
		}
		for _, g := range []Garbage{{GarbageImage, "", "sha256:img2", "local"}, {GarbageBundleObject, "", "sha256:obj2", ""}, {GarbageBundleDir, "d1", "v2", "local"}} {
			if ok, err := s.StillReferenced(ctx, g); err != nil || ok {
				t.Fatalf("StillReferenced(%+v) = %v %v", g, ok, err)
			}
		}
		if _, err := s.StillReferenced(ctx, Garbage{Kind: "tarball", Ref: "x"}); err == nil {
			t.Fatal("an unknown kind must be an error")
		}
		r5, err := s.GetRevision(ctx, "d1", 5)
		if err != nil || r5.RollbackOf != 1 || r5.ImageDigest != "sha256:img1" {
			t.Fatalf("rollback revision: %+v %v", r5, err)
		}
	})
}

// A crash after a batch committed but before its garbage was handled is a
// re-run: it deletes nothing twice and the outbox still holds everything. A
// batch that dies inside its transaction leaves nothing behind.
func TestExpireCrashSafety(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		now := time.Now()
		old, cutoff := now.AddDate(0, 0, -200), now.AddDate(0, 0, -90)
		for d := 1; d <= 3; d++ {
			dep := fmt.Sprintf("d%d", d)
			if err := s.CreateDeployment(ctx, deployment(dep)); err != nil {
				t.Fatal(err)
			}
			for n := 1; n <= 4; n++ {
				insertRevs(t, s, rev{dep, n, old, domain.StatusDeployed, fmt.Sprintf("img-%s-%d", dep, n), fmt.Sprintf("v%d", n), fmt.Sprintf("obj-%s-%d", dep, n)})
			}
			setCurrent(t, s, dep, 4)
		}
		before := revKeys(t, s)

		// Dies between recording garbage and deleting: nothing happened.
		cctx, cancel := context.WithCancel(ctx)
		expireHook = cancel
		_, err := s.ExpireBatch(cctx, cutoff, "", 2)
		expireHook = nil
		if err == nil {
			t.Fatal("a batch whose context was cancelled mid-transaction reported success")
		}
		if got := revKeys(t, s); strings.Join(got, " ") != strings.Join(before, " ") {
			t.Fatalf("aborted batch deleted revisions: %v", got)
		}
		if g := allGarbage(t, s); len(g) != 0 {
			t.Fatalf("aborted batch left garbage: %v", g)
		}

		// The first batch commits; the caller "crashes" before handling
		// the garbage and the retried activity runs the same batch again.
		first, err := s.ExpireBatch(ctx, cutoff, "", 2)
		if err != nil {
			t.Fatal(err)
		}
		if first != (ExpireResult{LastDeployment: "d2", Deployments: 2, RevisionsDeleted: 6, GarbageAdded: 18}) {
			t.Fatalf("first batch: %+v", first)
		}
		pending := garbageStrings(allGarbage(t, s))
		again, err := s.ExpireBatch(ctx, cutoff, "", 2)
		if err != nil {
			t.Fatal(err)
		}
		if again != (ExpireResult{LastDeployment: "d2", Deployments: 2}) {
			t.Fatalf("retried batch did work twice: %+v", again)
		}
		if g := garbageStrings(allGarbage(t, s)); strings.Join(g, " ") != strings.Join(pending, " ") {
			t.Fatalf("retry changed the outbox: %v, was %v", g, pending)
		}

		// The rest, then the outbox drains in pages; DoneGarbage is
		// idempotent.
		rest, err := s.ExpireBatch(ctx, cutoff, first.LastDeployment, 2)
		if err != nil || rest.RevisionsDeleted != 3 || rest.GarbageAdded != 9 {
			t.Fatalf("second batch: %+v %v", rest, err)
		}
		handled := 0
		for {
			page, err := s.PendingGarbage(ctx, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			if len(page) > 4 {
				t.Fatalf("page of %d", len(page))
			}
			handled += len(page)
			if err := s.DoneGarbage(ctx, page); err != nil {
				t.Fatal(err)
			}
			if err := s.DoneGarbage(ctx, page); err != nil {
				t.Fatal(err)
			}
		}
		if handled != 27 {
			t.Fatalf("handled %d garbage rows, want 27", handled)
		}
		// Re-running everything now finds nothing and re-adds nothing.
		if r := expireAll(t, s, cutoff, 1); r.RevisionsDeleted != 0 || r.GarbageAdded != 0 || r.Deployments != 3 {
			t.Fatalf("rerun: %+v", r)
		}
		if g := allGarbage(t, s); len(g) != 0 {
			t.Fatalf("garbage came back: %v", g)
		}
	})
}

// Random histories of deploys and rollbacks, expired in random batch sizes
// with random retries: the revisions deleted are exactly the expired ones,
// and the outbox holds exactly the artifacts only they referenced.
func TestExpireProperty(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		seed := time.Now().UnixNano()
		t.Logf("seed %d", seed)
		rnd := rand.New(rand.NewSource(seed))
		ctx := context.Background()
		now := time.Now()
		cutoff := now.AddDate(0, 0, -90)
		for iter := 0; iter < 200; iter++ {
			for _, q := range []string{`DELETE FROM garbage`, `DELETE FROM revisions`, `DELETE FROM deployments`} {
				if _, err := s.DB().Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			// Build a history.
			var all []rev
			current := map[string]int{}
			nDeps := 1 + rnd.Intn(5)
			for d := 0; d < nDeps; d++ {
				dep := fmt.Sprintf("d%02d", rnd.Intn(100))
				if _, ok := current[dep]; ok {
					continue
				}
				if err := s.CreateDeployment(ctx, deployment(dep)); err != nil {
					t.Fatal(err)
				}
				current[dep] = 0
				var mine, deployed []rev
				nRevs := rnd.Intn(9)
				for n := 1; n <= nRevs; n++ {
					r := rev{dep: dep, number: n, created: now.Add(-time.Duration(rnd.Intn(200*24)) * time.Hour)}
					if len(deployed) > 0 && rnd.Intn(3) == 0 { // rollback: the target's artifacts
						tgt := deployed[rnd.Intn(len(deployed))]
						r.image, r.version, r.object = tgt.image, tgt.version, tgt.object
					} else { // small pools, so digests repeat within and across deployments
						if rnd.Intn(6) > 0 {
							r.image = fmt.Sprintf("img%d", rnd.Intn(6))
						}
						if rnd.Intn(6) > 0 {
							r.version = fmt.Sprintf("v%d", rnd.Intn(5))
							r.object = fmt.Sprintf("obj%d", rnd.Intn(6))
						}
					}
					switch x := rnd.Intn(10); {
					case x < 7:
						r.status = domain.StatusDeployed
					case x < 9:
						r.status = domain.StatusFailed
					default:
						r.status = domain.StatusInitialized
					}
					if r.status == domain.StatusDeployed {
						deployed = append(deployed, r)
					}
					mine = append(mine, r)
				}
				if len(mine) > 0 {
					insertRevs(t, s, mine...)
				}
				if len(deployed) > 0 && rnd.Intn(5) > 0 {
					current[dep] = deployed[rnd.Intn(len(deployed))].number
					setCurrent(t, s, dep, current[dep])
				}
				all = append(all, mine...)
			}

			// Expire in random batch sizes; sometimes retry a batch.
			limit := 1 + rnd.Intn(4)
			after := ""
			var deleted int
			for {
				r, err := s.ExpireBatch(ctx, cutoff, after, limit)
				if err != nil {
					t.Fatal(err)
				}
				deleted += r.RevisionsDeleted
				if r.LastDeployment == "" {
					break
				}
				if rnd.Intn(3) == 0 {
					again, err := s.ExpireBatch(ctx, cutoff, after, limit)
					if err != nil {
						t.Fatal(err)
					}
					if again.RevisionsDeleted != 0 || again.GarbageAdded != 0 || again.LastDeployment != r.LastDeployment {
						t.Fatalf("iteration %d: retried batch after %q did work: %+v", iter, after, again)
					}
				}
				after = r.LastDeployment
			}

			// Check against the model.
			maxN := map[string]int{}
			for _, r := range all {
				maxN[r.dep] = max(maxN[r.dep], r.number)
			}
			remaining := map[string]bool{}
			for _, k := range revKeys(t, s) {
				remaining[k] = true
			}
			type art struct{ kind, dep, ref string }
			arts := func(r rev) []art {
				var out []art
				if r.image != "" {
					out = append(out, art{GarbageImage, "", r.image})
				}
				if r.object != "" {
					out = append(out, art{GarbageBundleObject, "", r.object})
				}
				if r.version != "" {
					out = append(out, art{GarbageBundleDir, r.dep, r.version})
				}
				return out
			}
			keptRefs, deletedRefs := map[art]bool{}, map[art]bool{}
			nDeleted := 0
			for _, r := range all {
				key := fmt.Sprintf("%s/%d", r.dep, r.number)
				expired := r.created.Before(cutoff) && r.number != maxN[r.dep] && r.number != current[r.dep] && r.status != domain.StatusInitialized
				if remaining[key] == expired {
					t.Fatalf("iteration %d: revision %s (%+v, current %d, most recent %d) expired=%v but remaining=%v",
						iter, key, r, current[r.dep], maxN[r.dep], expired, remaining[key])
				}
				for _, a := range arts(r) {
					if expired {
						deletedRefs[a] = true
					} else {
						keptRefs[a] = true
					}
				}
				if expired {
					nDeleted++
				}
			}
			if deleted != nDeleted {
				t.Fatalf("iteration %d: results say %d deleted, model %d", iter, deleted, nDeleted)
			}
			inGarbage := map[art]bool{}
			for _, g := range allGarbage(t, s) {
				a := art{g.Kind, g.DeploymentID, g.Ref}
				if keptRefs[a] {
					t.Fatalf("iteration %d: %+v is garbage but a kept revision references it", iter, a)
				}
				if !deletedRefs[a] {
					t.Fatalf("iteration %d: %+v is garbage but no deleted revision referenced it", iter, a)
				}
				if ok, err := s.StillReferenced(ctx, g); err != nil || ok {
					t.Fatalf("iteration %d: StillReferenced(%+v) = %v %v", iter, g, ok, err)
				}
				inGarbage[a] = true
			}
			for a := range deletedRefs {
				if !keptRefs[a] && !inGarbage[a] {
					t.Fatalf("iteration %d: %+v was referenced only by deleted revisions and is not garbage (missed)", iter, a)
				}
			}
		}
	})
}

// The statements of a batch and the re-check must be served by indexes: a
// scan of revisions per batch is a scan of a million rows per batch.
func TestCleanupUsesIndexes(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		conn, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, createVictims); err != nil {
			t.Fatal(err)
		}
		page := []any{"a", "b", int64(1)}
		for _, c := range []struct {
			name, q string
			args    []any
		}{
			{"victims", selectVictims, page},
			{"delete", deleteVictims, page[:2]},
			{"images", garbageImages, []any{int64(1)}},
			{"objects", garbageObjects, []any{int64(1)}},
			{"dirs", garbageDirs, []any{int64(1)}},
			{"image?", `SELECT 1 FROM revisions WHERE image_digest=$1 LIMIT 1`, []any{"x"}},
			{"object?", `SELECT 1 FROM revisions WHERE dag_bundle_digest=$1 LIMIT 1`, []any{"x"}},
			{"dir?", `SELECT 1 FROM revisions WHERE deployment_id=$1 AND dag_bundle_version=$2 LIMIT 1`, []any{"d", "x"}},
		} {
			var plan []string
			switch s.Dialect() {
			case "sqlite3":
				p := sqlitePlan(t, conn, c.q, c.args...)
				if strings.Contains(p, "SCAN revisions") || strings.Contains(p, "SCAN v") || strings.Contains(p, "SCAN k") ||
					strings.Contains(p, "SCAN d") || strings.Contains(p, "revisions_created") {
					t.Errorf("%s: plan scans revisions: %s", c.name, p)
				}
			case "postgres":
				// Near-empty tables make sequential scans cheapest; take
				// that option away to learn whether indexes can serve.
				conn.ExecContext(ctx, "SET enable_seqscan = off")
				rows, err := conn.QueryContext(ctx, "EXPLAIN "+c.q, c.args...)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var line string
					rows.Scan(&line)
					plan = append(plan, line)
				}
				rows.Close()
				conn.ExecContext(ctx, "RESET enable_seqscan")
				p := strings.Join(plan, "; ")
				if strings.Contains(p, "Seq Scan on revisions") || strings.Contains(p, "Seq Scan on deployments") || strings.Contains(p, "revisions_created") {
					t.Errorf("%s: plan scans revisions: %s", c.name, p)
				}
			}
			if testing.Verbose() {
				t.Logf("%s: %s", c.name, strings.Join(plan, "; "))
			}
		}
	})
}

// DoneGarbage deletes in chunks of parameters; a page larger than a chunk,
// with rows that are already gone mixed in, must leave exactly nothing.
func TestDoneGarbageManyRows(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		var gs []Garbage
		for i := 0; i < 450; i++ {
			g := Garbage{Kind: []string{GarbageImage, GarbageBundleObject, GarbageBundleDir}[i%3], Ref: fmt.Sprintf("ref-%03d", i)}
			if g.Kind == GarbageBundleDir {
				g.DeploymentID = "d1"
			}
			if _, err := s.DB().ExecContext(ctx, `INSERT INTO garbage (kind, deployment_id, ref, created_at) VALUES ($1,$2,$3,0)`,
				g.Kind, g.DeploymentID, g.Ref); err != nil {
				t.Fatal(err)
			}
			gs = append(gs, g)
		}
		got := allGarbage(t, s)
		if len(got) != 450 || strings.Join(garbageStrings(got), " ") != strings.Join(garbageStrings(gs), " ") {
			t.Fatalf("pending: %d rows", len(got))
		}
		if err := s.DoneGarbage(ctx, gs[:10]); err != nil {
			t.Fatal(err)
		}
		if err := s.DoneGarbage(ctx, append(gs, Garbage{Kind: GarbageImage, Ref: "never-there"})); err != nil {
			t.Fatal(err)
		}
		if got := allGarbage(t, s); len(got) != 0 {
			t.Fatalf("%d rows left", len(got))
		}
		if err := s.DoneGarbage(ctx, nil); err != nil {
			t.Fatal(err)
		}
	})
}
