package store

import (
	"context"
	"testing"
	"time"
)

// A pass is found only for its host, deployment and fingerprint, and only
// while it is recent enough; a newer pass replaces an older one, an older
// record never replaces a newer, and recording forgets what is too old to
// be reused.
func TestPreflightPasses(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		for _, id := range []string{"d1", "d2"} {
			if err := s.CreateDeployment(ctx, deployment(id)); err != nil {
				t.Fatal(err)
			}
		}
		at := time.Now().UTC().Truncate(time.Microsecond)
		day := 24 * time.Hour
		rec := func(host, dep, fp string, rev int, when time.Time) {
			t.Helper()
			if err := s.RecordPreflightPass(ctx, PreflightPass{Host: host, DeploymentID: dep, Fingerprint: fp, Revision: rev, PassedAt: when}, when.Add(-day)); err != nil {
				t.Fatal(err)
			}
		}
		find := func(host, dep, fp string, since time.Time) (PreflightPass, bool) {
			t.Helper()
			p, ok, err := s.PreflightPassSince(ctx, host, dep, fp, since)
			if err != nil {
				t.Fatal(err)
			}
			return p, ok
		}
		rec("local", "d1", "fp-a", 1, at.Add(-2*time.Hour))
		if p, ok := find("local", "d1", "fp-a", at.Add(-day)); !ok || p.Revision != 1 || !p.PassedAt.Equal(at.Add(-2*time.Hour)) {
			t.Fatalf("the pass: %+v %v", p, ok)
		}
		for _, miss := range [][3]string{{"b", "d1", "fp-a"}, {"local", "d2", "fp-a"}, {"local", "d1", "fp-b"}} {
			if _, ok := find(miss[0], miss[1], miss[2], at.Add(-day)); ok {
				t.Fatalf("%v must not match another host, deployment or fingerprint", miss)
			}
		}
		if _, ok := find("local", "d1", "fp-a", at.Add(-time.Hour)); ok {
			t.Fatal("a pass older than the window must not be found")
		}
		rec("local", "d1", "fp-a", 3, at)
		rec("local", "d1", "fp-a", 2, at.Add(-time.Hour)) // a late record of an older pass
		if p, _ := find("local", "d1", "fp-a", at.Add(-day)); p.Revision != 3 || !p.PassedAt.Equal(at) {
			t.Fatalf("the newest pass must win: %+v", p)
		}
		// Two days on, recording another fingerprint forgets fp-a.
		rec("local", "d1", "fp-c", 4, at.Add(2*day))
		if _, ok := find("local", "d1", "fp-a", time.Time{}); ok {
			t.Fatal("a pass older than the reuse bound must be forgotten when the next one is recorded")
		}
		if _, ok := find("local", "d1", "fp-c", at); !ok {
			t.Fatal("the new pass is missing")
		}
	})
}
