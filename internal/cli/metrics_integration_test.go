package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/itest"
)

// `rewind metrics` (issue 30) over real deploys, store-direct and through
// rewind serve alike: a deploy with a commit time, a failed one, one
// rolled back by a person; the five metrics count exactly those, the
// commit time recorded with the revision. A bad --since exits 2; through
// serve a user without a grant sees nothing of the deployment.
func TestMetricsFromRealDeploys(t *testing.T) {
	startStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("metrics")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		committed := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait", "--description", "first",
			"--git-commit", "0123abcd", "--git-commit-time", committed.Format(time.RFC3339))
		if r := m.as("alice", "deploy", dep, "--image", itest.Image(t, "broken"), "--wait"); r.code != ExitRefused {
			t.Fatalf("the broken image must fail: %d %s", r.code, r.stderr)
		}
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait", "--description", "third")
		m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "the third is bad", "--yes", "--wait")

		if h := m.historyJSON(dep); len(h) != 4 || h[3].Git == nil || h[3].Git.CommittedAt == nil || !h[3].Git.CommittedAt.Equal(committed) {
			t.Fatalf("the first deploy's commit time: %+v", h[len(h)-1].Git)
		}
		var rep action.MetricsReport
		if err := json.Unmarshal([]byte(m.check(m.read("alice", "metrics", dep, "--since", "1d", "-o", "json"), nil)), &rep); err != nil {
			t.Fatal(err)
		}
		cfr, rw, lt := rep.ChangeFailureRate, rep.ReworkRate, rep.LeadTime
		if rep.DeploymentID != dep || rep.DeploymentFrequency.Deploys != 2 || cfr.Deploys != 3 || cfr.Failed != 1 || cfr.RolledBack != 1 ||
			cfr.Rate == nil || *cfr.Rate != 2.0/3 || rw.Rollbacks != 1 || rw.AutomaticRollbacks != 0 || rw.Rate == nil || *rw.Rate != 1.0/3 ||
			lt.Count != 1 || lt.Missing != 1 || rep.RecoveryTime.Count != 1 || rep.Bucket != "hour" {
			t.Fatalf("metrics of %s: %+v", dep, rep)
		}
		if s := lt.MedianSeconds; s < 7200 || s > 7200+600 {
			t.Errorf("lead time %.0f s, want two hours and the deploy's time", s)
		}
		text := m.check(m.read("alice", "metrics", dep), nil)
		for _, want := range []string{"deployment frequency", "change failure rate", "66.7%", "rework rate", "33.3%", "1 rollbacks (0 automatic)"} {
			if !strings.Contains(text, want) {
				t.Errorf("rewind metrics %s lacks %q:\n%s", dep, want, text)
			}
		}
		var all action.MetricsReport
		if err := json.Unmarshal([]byte(m.check(m.read("alice", "metrics", "-o", "json"), nil)), &all); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range all.Deployments {
			found = found || d.DeploymentID == dep && d.DeploymentFrequency.Deploys == 2
		}
		if !found {
			t.Errorf("rewind metrics across deployments lacks %s: %+v", dep, all.Deployments)
		}
		if r := m.read("alice", "metrics", dep, "--since", "forever"); r.code != ExitUsage || !strings.Contains(r.stderr, "--since") {
			t.Errorf("a bad --since: %d %s", r.code, r.stderr)
		}
		if m.remote {
			if r := m.read("mallory", "metrics", dep); r.code != ExitRefused || !strings.Contains(r.stderr, "PermissionDenied") {
				t.Errorf("a user without a grant, one deployment: %d %s", r.code, r.stderr)
			}
			var none action.MetricsReport
			if err := json.Unmarshal([]byte(m.check(m.read("mallory", "metrics", "-o", "json"), nil)), &none); err != nil {
				t.Fatal(err)
			}
			if none.DeploymentFrequency.Deploys != 0 || len(none.Deployments) != 0 {
				t.Errorf("a user without grants sees deploys: %+v", none)
			}
		}
	})
}
