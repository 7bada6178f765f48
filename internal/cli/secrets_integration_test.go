package cli

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/itest"
)

// No secrets in workflow history (issue 13): a deployment's environment
// (a database password) and its metadata database URL never travel in
// workflow or activity payloads — activities load them from the store —
// so the history the Temporal CLI shows holds none of them, in clear or
// base64, with no payload encryption configured.
func TestNoSecretsInWorkflowHistory(t *testing.T) {
	s := startStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("sec")
		itest.RemoveContainers(t, dep)
		const secret = "s3cret-db-pa55"
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--env", "DB_PASSWORD="+secret,
			"--metadata-db", "postgresql://airflow:"+secret+"@db.internal:5432/airflow", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		// The same versions (9.1.0 with a HEALTHCHECK): a downgrade or an
		// upgrade would snapshot db.internal, which does not exist.
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait")
		// Settings are administration (system.admin through rewind serve);
		// applying them is a change, the editor's.
		m.mustRewind("deployment", "update", dep, "--env", "DB_PASSWORD="+secret+"-rotated")
		m.mustAs("alice", "deployment", "update", dep, "--apply", "--wait")
		res := m.rollbackJSON(dep, "--to", "1", "--description", "back")
		if !strings.Contains(containerEnv(t, "rewind-"+dep+"-scheduler"), "DB_PASSWORD="+secret+"-rotated") {
			t.Fatal("the containers must still get the password: it only stays out of history")
		}
		ids := []string{"change/" + dep}
		if res.Revision != nil {
			ids = append(ids, res.Revision.WorkflowID)
		}
		for _, id := range ids {
			// Every run of the change id: the deploys, the configuration
			// change and the rollback.
			out, err := exec.Command(itest.TemporalCLI(t), "workflow", "list", "--address", s.Addr, "--query", `WorkflowId="`+id+`"`, "-o", "json").Output()
			if err != nil {
				t.Fatalf("workflow list: %v", err)
			}
			for _, run := range strings.Split(string(out), `"runId": "`)[1:] {
				runID := run[:strings.Index(run, `"`)]
				show, err := exec.Command(itest.TemporalCLI(t), "workflow", "show", "--address", s.Addr, "-w", id, "-r", runID, "-o", "json").Output()
				if err != nil {
					t.Fatalf("workflow show %s %s: %v", id, runID, err)
				}
				if shows(string(show), secret) || shows(string(show), "db.internal") {
					t.Fatalf("%s run %s carries a secret in its history", id, runID)
				}
			}
		}
		if out := m.mustAs("alice", "rollback", dep, "--to", "2", "--description", "x", "--dry-run", "--output", "json"); strings.Contains(out, secret) {
			t.Fatalf("a plan carries the secret:\n%s", out)
		}
	})
}
