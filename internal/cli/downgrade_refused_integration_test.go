package cli

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
)

// Issue 27 item 2, reproduced: the rollback target has a Runtime label and
// nothing that says its Airflow version (allowed with
// --allow-unknown-version). It is a Runtime downgrade, so every component
// stops; the metadata downgrade then refuses before its one-off exists (it
// needs the Airflow version to downgrade to). Nothing touched the
// database: the rollback ends FAILED, compensated, with the newer version
// running again — not stopped behind a point of no return it never passed.
func TestDowngradeRefusedBeforeItStartsIsCompensated(t *testing.T) {
	startStack(t)
	cfg := itest.Config(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("norefuse")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		seedDeployed(t, itest.Store(t, cfg), dep, "8.0.0-noairflow", "8.0.0", "")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")

		r := m.as("alice", "rollback", dep, "--to", "1", "--description", "back to the unlabelled one", "--allow-unknown-version", "--yes", "--wait")
		if r.code != ExitRefused || !strings.Contains(r.stderr, "InvalidInput") {
			t.Fatalf("exit %d:\n%s\n%s", r.code, r.out, r.stderr)
		}
		top := m.historyJSON(dep)[0]
		if top.Number != 3 || top.Status != domain.StatusFailed || strings.Contains(top.FailureReason, "point of no return") ||
			!strings.Contains(top.FailureReason, "components put back on revision 2") {
			t.Fatalf("revision: %+v", top)
		}
		if st := status(t, "rewind-"+dep+"-scheduler"); st["runtime"] != "9.1.0" {
			t.Fatalf("the newer scheduler must run again: %v", st)
		}
		if st, _ := stateOf("rewind-" + dep + "-worker"); st != "running" {
			t.Fatalf("the newer worker must run again: %s", st)
		}
		if d := m.deploymentJSON(dep); d.CurrentRevision != 2 {
			t.Fatalf("current revision: %d", d.CurrentRevision)
		}
	})
}
