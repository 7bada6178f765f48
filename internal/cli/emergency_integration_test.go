package cli

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/itest"
)

// Issue 28, the operator at 3 a.m.: `rollback <dep>` without --to goes to
// the previous good revision and says so in the plan; --wait --timeout
// gives up waiting with exit 3 while the rollback goes on; `watch <dep>`
// follows the deployment's change to its end; `version` answers.
func TestHelmLikeEmergencyCommands(t *testing.T) {
	startStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("helm")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "image", "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait")

		r := m.as("alice", "rollback", dep, "--description", "bad deploy", "--dry-run")
		if r.code != ExitOK || !strings.Contains(r.stderr, "rolling back to revision 1") || !strings.Contains(r.out, "revision 2 → revision 1") {
			t.Fatalf("rollback without --to: %d\n%s\n%s", r.code, r.out, r.stderr)
		}
		r = m.as("alice", "rollback", dep, "--description", "bad deploy", "--yes", "--wait", "--timeout", "1ms")
		if r.code != ExitTimeout || !strings.Contains(r.stderr, "still running after --timeout 1ms") {
			t.Fatalf("--wait --timeout: %d\n%s\n%s", r.code, r.out, r.stderr)
		}
		if out := m.mustRewind("watch", dep); !strings.Contains(out, "change/"+dep+" finished") && !strings.Contains(out, "finished") {
			t.Fatalf("watch <deployment>:\n%s", out)
		}
		top := m.historyJSON(dep)[0]
		if top.Number != 3 || top.RollbackOf != 1 || top.Status != "DEPLOYED" {
			t.Fatalf("the rollback that went on after the timeout: %+v", top)
		}
		// The history fits a terminal by default; --output wide has it all.
		for _, l := range strings.Split(strings.TrimSpace(m.mustRewind("history", dep)), "\n") {
			if n := len([]rune(l)); n > 130 {
				t.Errorf("a default history line is %d columns wide:\n%s", n, l)
			}
		}
		if wide := m.mustRewind("history", dep, "--output", "wide"); !strings.Contains(wide, "DAG BUNDLE VERSION") || !strings.Contains(wide, itest.Image(t, "9.1.0-healthcheck")) {
			t.Errorf("history --output wide:\n%s", wide)
		}
		// With r3 (= r1's image) current, the previous different good revision is r2.
		if r := m.as("alice", "rollback", dep, "--description", "again", "--dry-run"); !strings.Contains(r.stderr, "rolling back to revision 2") {
			t.Fatalf("the previous different revision: %d %s", r.code, r.stderr)
		}
	})
	if out := mustRewind(t, "version"); !strings.HasPrefix(out, "rewind ") || !strings.Contains(out, "Temporal Go SDK v") {
		t.Fatalf("version: %q", out)
	}
	if r := rewind("--version"); r.code != ExitOK || !strings.HasPrefix(r.out, "rewind ") {
		t.Fatalf("--version: %d %q", r.code, r.out)
	}
}
