package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// Automatic rollback (issue 16): a deploy whose scheduler turns unhealthy
// is rolled back by rewind itself within the bake period plus one interval;
// a healthy deploy is not; a manual deploy during a bake ends it.
func TestAutomaticRollbackAfterABadDeploy(t *testing.T) {
	s := startStack(t)
	// Long (bake periods): remote only under make test-remote.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("bake")
		itest.RemoveContainers(t, dep)
		const bake, interval = 24 * time.Second, 3 * time.Second
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--auto-rollback", "--bake", bake.String(), "--bake-interval", interval.String(),
			"--bake-failures", "2", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		if out := m.mustRewind("deployment", "show", dep); !strings.Contains(out, "bake 24s, probe every 3s") {
			t.Fatalf("show:\n%s", out)
		}
		// The automatic rollback runs under the permissions of whoever
		// enabled it (R22): the administrator who created the deployment,
		// who administers but does not deploy until granted a role.
		var shown domain.Deployment
		if err := json.Unmarshal([]byte(m.mustRewind("deployment", "show", dep, "--output", "json")), &shown); err != nil || shown.AutoRollback == nil || shown.AutoRollback.EnabledBy == "" {
			t.Fatalf("show --output json must say who enabled automatic rollback: %+v, %v", shown.AutoRollback, err)
		}
		m.mustRewind("grant", shown.AutoRollback.EnabledBy, "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")             // r1: nothing to go back to
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait") // r2: healthy
		bakeResult := func() workflows.BakeResult {
			var res workflows.BakeResult
			ctx, cancel := context.WithTimeout(context.Background(), bake+time.Minute)
			defer cancel()
			if err := s.Client.GetWorkflow(ctx, "bake/"+dep, "").Get(ctx, &res); err != nil {
				t.Fatalf("bake: %v", err)
			}
			return res
		}
		if res := bakeResult(); res.Outcome != "passed" || res.Probes < 2 {
			t.Fatalf("a healthy deploy's bake must pass: %+v", res)
		}
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-sick"), "--wait") // r3: its scheduler fails its check
		r3 := m.historyJSON(dep)[0]
		res := bakeResult()
		if res.Outcome != "rolled-back" || !strings.Contains(res.Evidence, "unhealthy: scheduler health check") {
			t.Fatalf("a bad deploy's bake must roll it back: %+v", res)
		}
		r4 := m.waitRevision(dep, 4, 2*time.Minute)
		if r4.Status != domain.StatusDeployed || r4.RollbackOf != 2 || r4.CreatedBy != domain.AutomaticRequester || !r4.RequestedByVerified ||
			!strings.Contains(r4.Description, "unhealthy: scheduler health check") {
			t.Fatalf("the automatic rollback: %+v", r4)
		}
		if limit := r3.FinishedAt.Add(bake + interval); r4.CreatedAt.After(limit) {
			t.Fatalf("rolled back at %s, after the bake period plus one interval (%s)", r4.CreatedAt, limit)
		}
		if st := status(t, "rewind-"+dep+"-scheduler"); st["runtime"] != "9.1.0" {
			t.Fatalf("after the automatic rollback: %v", st)
		}
		// A manual deploy during a bake ends it: the sick r5 is replaced by a
		// person before its probes fail enough, and is never rolled back.
		// (r5 is what the automatic rollback moved away from: it takes --force.)
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-sick"), "--force", "--description", "once more, watched", "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		if res := bakeResult(); res.Outcome != "passed" {
			t.Fatalf("the bake of the manual deploy: %+v", res)
		}
		for _, r := range m.historyJSON(dep)[:2] {
			if r.CreatedBy == domain.AutomaticRequester {
				t.Fatalf("a bake ended by a manual deploy rolled back: %+v", r)
			}
		}
	})
}
