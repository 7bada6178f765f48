package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
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
		page, err := s.PendingGarbageAfter(ctx, AllHosts, Garbage{}, 2)
		if err != nil || len(page) != 2 || page[0].Ref != "ref-0" {
			t.Fatalf("first page: %+v %v", page, err)
		}
		next, err := s.PendingGarbageAfter(ctx, AllHosts, page[1], 10)
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
		left, err := s.PendingGarbageAfter(ctx, AllHosts, Garbage{}, 10)
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
		if all, _ := s.PendingGarbageAfter(ctx, AllHosts, Garbage{}, 10); len(all) != 5 {
			t.Fatalf("after release: %d rows pending", len(all))
		}
	})
}

// An image is garbage on a host once no revision of that host's
// deployments references it, whatever other hosts still run; the outbox
// is walked per host, and a host's rows never show in another's walk.
func TestImageGarbageIsCountedPerHost(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		old, now := time.Now().AddDate(0, 0, -200), time.Now()
		for dep, host := range map[string]string{"da": "a", "db": "b", "dc": "b"} {
			d := deployment(dep)
			d.Host = host
			if err := s.CreateDeployment(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		// Every deployment ran sha256:shared and moved on; dc (also on
		// host b) still runs it.
		insertRevs(t, s,
			rev{"da", 1, old, domain.StatusDeployed, "sha256:shared", "v1", "sha256:obj1"},
			rev{"da", 2, now, domain.StatusDeployed, "sha256:new", "v2", "sha256:obj2"},
			rev{"db", 1, old, domain.StatusDeployed, "sha256:shared", "v1", "sha256:obj1"},
			rev{"db", 2, now, domain.StatusDeployed, "sha256:new", "v2", "sha256:obj2"},
			rev{"dc", 1, now, domain.StatusDeployed, "sha256:shared", "v1", "sha256:obj1"})
		for _, d := range []string{"da", "db"} {
			setCurrent(t, s, d, 2)
		}
		setCurrent(t, s, "dc", 1)
		expireAll(t, s, now.AddDate(0, 0, -90), 10)
		var got []string
		for _, g := range allGarbage(t, s) {
			got = append(got, g.Kind+"@"+g.Host+":"+g.DeploymentID+":"+g.Ref)
		}
		want := "bundle-dir@a:da:v1 bundle-dir@b:db:v1 image@a::sha256:shared"
		if strings.Join(got, " ") != want {
			t.Fatalf("garbage:\n got %s\nwant %s", strings.Join(got, " "), want)
		}
		if hosts, err := s.GarbageHosts(ctx); err != nil || strings.Join(hosts, ",") != "a,b" {
			t.Fatalf("hosts with garbage: %v %v", hosts, err)
		}
		if counts, err := s.PendingGarbageByHost(ctx); err != nil || fmt.Sprint(counts) != "[{a 2} {b 1}]" {
			t.Fatalf("pending per host: %v %v", counts, err)
		}
		onB, err := s.PendingGarbageAfter(ctx, "b", Garbage{}, 10)
		if err != nil || len(onB) != 1 || onB[0].Host != "b" || onB[0].Kind != GarbageBundleDir {
			t.Fatalf("host b's walk: %+v %v", onB, err)
		}
		if shared, err := s.PendingGarbageAfter(ctx, "", Garbage{}, 10); err != nil || len(shared) != 0 {
			t.Fatalf("no bundle object is garbage while dc keeps it: %+v %v", shared, err)
		}
		// Host a's image is no longer referenced on a; on b it still is.
		img := Garbage{Kind: GarbageImage, Ref: "sha256:shared", Host: "a"}
		if ref, err := s.StillReferenced(ctx, img); err != nil || ref {
			t.Fatalf("referenced on a: %v %v", ref, err)
		}
		img.Host = "b"
		if ref, err := s.StillReferenced(ctx, img); err != nil || !ref {
			t.Fatalf("dc on b still runs it: %v %v", ref, err)
		}
		// Done on one host leaves the other host's row of the same kind.
		if err := s.DoneGarbage(ctx, []Garbage{{Kind: GarbageBundleDir, DeploymentID: "db", Ref: "v1", Host: "a"}}); err != nil {
			t.Fatal(err)
		}
		if n := len(allGarbage(t, s)); n != 3 {
			t.Fatalf("a row of host a named for host b's deployment must delete nothing: %d rows", n)
		}
		if aside, err := s.FailedGarbage(ctx, Garbage{Kind: GarbageImage, Ref: "sha256:shared", Host: "a"}, "refused", true); err != nil || !aside {
			t.Fatalf("set aside on a: %v %v", aside, err)
		}
		if hosts, _ := s.GarbageHosts(ctx); strings.Join(hosts, ",") != "a,b" {
			t.Fatalf("host a still has its bundle dir: %v", hosts)
		}
	})
}
