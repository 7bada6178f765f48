package cli

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// A rollback to the last good revision does not run its start checks again
// when they passed with identical check containers (REWIND_PREFLIGHT_REUSE,
// a day by default): no throwaway container starts, and the preflight says
// when and for which revision they passed. Whatever changes what the checks
// would see runs them (the stored environment here), a failed check is
// never reused, putting the environment back finds the pass again, and a
// store that cannot read or record passes only costs the reuse.
func TestPassedStartChecksAreReused(t *testing.T) {
	startStack(t)
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("reuse")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "bundle", "--rollback-enabled",
			"--component", "scheduler=airflow scheduler", "--component", "api-server=airflow api-server")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		for _, dags := range []string{"a", "b"} {
			m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--dags", dagDir(t, dags), "--description", "DAGs "+dags, "--wait")
		}
		// rollback rolls back and counts the check containers it started.
		rollback := func(to int) (result, workflows.RollbackResult, int) {
			t.Helper()
			events := itest.RecordEvents(t, dep)
			r := m.as("alice", "rollback", dep, "--to", strconv.Itoa(to), "--description", "reuse", "--yes", "--wait", "--output", "json")
			var res workflows.RollbackResult
			if r.code == 0 {
				if err := json.Unmarshal([]byte(r.out), &res); err != nil {
					t.Fatalf("%v: %s", err, r.out)
				}
			}
			return r, res, itest.CountEvents(events(), "start", "oneoff-preflight")
		}
		reused := func(res workflows.RollbackResult, revision int) bool {
			p := res.Report.Preflight
			return len(p) == 2 && p[0].Reused && p[1].Reused && p[0].PassedRevision == revision && p[0].PassedAt != nil
		}
		// Revision 3 runs revision 1's checks on the settings a later
		// revision's containers have (revision 1's ran on a first deploy's).
		if r, _, _ := rollback(1); r.code != 0 {
			t.Fatalf("rollback to 1: %s", r.stderr)
		}
		// Revisions 2 and 3 passed with what revisions 4 and 5 would start.
		for _, c := range []struct{ to, passed int }{{2, 2}, {1, 3}} {
			r, res, started := rollback(c.to)
			if r.code != 0 || started != 0 || !reused(res, c.passed) {
				t.Fatalf("rollback to %d must reuse revision %d's checks: exit %d, %d check containers, %+v %s", c.to, c.passed, r.code, started, res.Report.Preflight, r.stderr)
			}
			if d := res.Progress.Steps; !strings.Contains(stepDetail(d, workflows.StepPreflight), "not run again") {
				t.Fatalf("the preflight step must say its checks were reused: %+v", d)
			}
		}
		// The stored environment changes what the checks see: they run, and
		// fail; failed, they are never reused.
		m.mustRewind("deployment", "update", dep, "--env", "REWIND_TEST_FAIL_START=1")
		for i := 0; i < 2; i++ {
			r, _, started := rollback(2)
			if r.code != ExitRefused || !strings.Contains(r.stderr, "PreflightFailed") || started != 2 {
				t.Fatalf("checks under another environment must run and fail (try %d): exit %d, %d check containers, %s", i+1, r.code, started, r.stderr)
			}
		}
		m.mustRewind("deployment", "update", dep, "--unset-env", "REWIND_TEST_FAIL_START")
		if r, res, started := rollback(2); r.code != 0 || started != 0 || !reused(res, 2) {
			t.Fatalf("the environment put back must find revision 2's pass again: exit %d, %d check containers, %s", r.code, started, r.stderr)
		}
		// A store that cannot read or record passes costs only the reuse:
		// with their table gone the lookup fails, the checks run and pass,
		// and the failed record is only logged.
		db := itest.Store(t, itest.Config(t)).DB()
		move := func(from, to string) {
			t.Helper()
			if _, err := db.ExecContext(context.Background(), "ALTER TABLE "+from+" RENAME TO "+to); err != nil {
				t.Fatal(err)
			}
		}
		move("preflight_passes", "preflight_passes_away")
		r, _, started := rollback(1)
		move("preflight_passes_away", "preflight_passes")
		if r.code != 0 || started != 2 {
			t.Fatalf("without its passes the rollback must run its checks and succeed: exit %d, %d check containers, %s", r.code, started, r.stderr)
		}
	})
}

func stepDetail(steps []workflows.Step, name string) string {
	for _, s := range steps {
		if s.Name == name {
			return s.Detail
		}
	}
	return ""
}
