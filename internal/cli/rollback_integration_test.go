package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

func dagDir(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etl_"+version+".py"), []byte("# DAG "+version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// status runs `airflow status` in a component's container: what it runs and
// which DAG bundle it sees through `current`.
func status(t *testing.T, container string) map[string]string {
	t.Helper()
	out, err := exec.Command("docker", "exec", container, "airflow", "status").Output()
	if err != nil {
		t.Fatalf("docker exec %s airflow status: %v", container, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// exitCode waits for a container to exit and returns its exit code.
func exitCode(t *testing.T, name string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, err := exec.Command("docker", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name).Output()
		if err == nil {
			f := strings.Fields(string(out))
			if f[0] == "exited" {
				return f[1]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not exit within %s (%s %v)", name, within, out, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// rollbackJSON rolls back as alice, store-direct.
func rollbackJSON(t *testing.T, args ...string) workflows.RollbackResult {
	t.Helper()
	var res workflows.RollbackResult
	out := mustRewind(t, append(append([]string{"rollback"}, args...), "--yes", "--wait", "--output", "json", "--as", "alice")...)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return res
}

// The rollback issue's scenario through the real dev server, Docker Engine
// and registry: r1 Runtime 9.1.0, r2 9.1.0 with other DAGs, r3 8.0.0; roll
// back to r2 (an upgrade: the old worker drains and exits 0), then to r3 (a
// downgrade: the worker is killed, the metadata downgrade runs).
func TestRollbackThroughTheDevServerDockerAndRegistry(t *testing.T) {
	s := startStack(t)
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("rb")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "bundle", "--dag-deploy", "--rollback-enabled",
			"--env", "REWIND_TEST_TASK_SECONDS=2", "--env", "AIRFLOW__CORE__PARALLELISM=4",
			"--component", "scheduler=airflow scheduler", "--component", "dag-processor=airflow dag-processor", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		deploy := func(tag, dags, desc string) {
			out := m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, tag), "--dags", dagDir(t, dags), "--description", desc, "--wait")
			// --wait shows the steps as they end, the last ones included.
			for _, step := range []string{"swap components", "verify", "mark deployed"} {
				if !regexp.MustCompile(`(?m)^\S+  ` + step + ` +done\b`).MatchString(out) {
					t.Fatalf("deploy %s --wait did not show %q done:\n%s", desc, step, out)
				}
			}
		}
		deploy("9.1.0", "a", "r1")
		deploy("9.1.0", "b", "r2")
		deploy("8.0.0", "c", "r3")
		if st := status(t, "rewind-"+dep+"-scheduler"); st["runtime"] != "8.0.0" || st["bundle_version"] != "c" {
			t.Fatalf("after r3 the scheduler should run 8.0.0 with DAGs c: %v", st)
		}

		// The plan first, as a dry run: nothing changes.
		plan := m.mustAs("alice", "rollback", dep, "--to", "2", "--description", "r3 broke the ETL", "--dry-run")
		if !strings.Contains(plan, "Rollback plan") || !strings.Contains(plan, "workers drained: rewind-"+dep+"-worker") || len(m.historyJSON(dep)) != 3 {
			t.Fatalf("dry run:\n%s", plan)
		}
		if !m.remote {
			m.recordHistory(s, planWorkflowID(t, s, dep), "rollback-dry-run")
		}

		// Without --yes the plan is shown and the deployment id must be typed:
		// anything else (or nothing, as from a script) changes nothing.
		for _, answer := range []string{"", "yes\n", "d1\n"} {
			r := m.asWithInput("alice", answer, "rollback", dep, "--to", "2", "--description", "r3 broke the ETL")
			if r.code != ExitRefused || !strings.Contains(r.stderr, "not confirmed") || !strings.Contains(r.out, "Type the deployment id") {
				t.Fatalf("answer %q: exit %d\n%s\n%s", answer, r.code, r.out, r.stderr)
			}
		}
		if n := len(m.historyJSON(dep)); n != 3 {
			t.Fatalf("unconfirmed rollbacks recorded revisions: %d", n)
		}

		// Roll back to r2: an upgrade 8.0.0 → 9.1.0.
		res := m.rollbackJSON(dep, "--to", "2", "--description", "r3 broke the ETL")
		m.recordHistory(s, "change/"+dep, "rollback-upgrade")
		if res.Revision.Number != 4 || res.Plan.Downgrade || len(res.Report.Swap.Drained) != 1 {
			t.Fatalf("r4: %+v plan %+v swap %+v", res.Revision, res.Plan, res.Report.Swap)
		}
		if code := exitCode(t, res.Report.Swap.Drained[0].Name, 30*time.Second); code != "0" {
			t.Fatalf("the drained worker must finish its task and exit 0, exited %s", code)
		}
		if st := status(t, "rewind-"+dep+"-worker"); st["runtime"] != "9.1.0" || st["bundle_version"] != "b" {
			t.Fatalf("after r4 the worker should run 9.1.0 with DAGs b: %v", st)
		}

		// Roll back to r3: a downgrade 9.1.0 → 8.0.0.
		res = m.rollbackJSON(dep, "--to", "3", "--description", "back to the 8.0.0 build")
		m.recordHistory(s, "change/"+dep, "rollback-downgrade")
		if res.Revision.Number != 5 || !res.Plan.Downgrade || len(res.Report.Swap.Killed) != 1 {
			t.Fatalf("r5: %+v plan %+v swap %+v", res.Revision, res.Plan, res.Report.Swap)
		}
		if k := res.Report.Swap.Killed[0]; k.ExitCode == nil || *k.ExitCode != 137 {
			t.Fatalf("the killed worker must show exit 137: %+v", k)
		}
		if md := res.Report.Downgrade; md == nil || md.ExitCode != 0 || !strings.Contains(md.Output, "db downgrade") || !strings.Contains(md.Output, "runtime=9.1.0") {
			t.Fatalf("the metadata downgrade must run with the newer image: %+v", md)
		}
		if st := status(t, "rewind-"+dep+"-scheduler"); st["runtime"] != "8.0.0" || st["bundle_version"] != "c" {
			t.Fatalf("after r5 the scheduler should run 8.0.0 with DAGs c: %v", st)
		}

		// Without Elasticsearch the events go to the NDJSON file, one document
		// per event, under the ids Elasticsearch would get.
		n := waitExport(t, s, res.Revision.WorkflowID, res.Revision.RunID)
		file, err := eslog.NewFile(eslog.DefaultLogDir(os.Getenv("REWIND_DATA_DIR")), "")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(file.Path(res.Revision.WorkflowID, res.Revision.RunID))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		if len(lines) != 2*n {
			t.Fatalf("want %d events in the NDJSON file, have %d lines", n, len(lines))
		}
		for i := 0; i < n; i++ {
			id := eslog.Event{WorkflowID: res.Revision.WorkflowID, RunID: res.Revision.RunID, Seq: i + 1}.ID()
			if !strings.Contains(lines[2*i], `"_id":"`+id+`"`) || !strings.Contains(lines[2*i+1], `"seq":`+fmt.Sprint(i+1)) {
				t.Fatalf("event %d: %s / %s", i+1, lines[2*i], lines[2*i+1])
			}
		}

		// History: r5…r1 newest first; r4 and r5 carry their target's image,
		// digest and bundle version with their own description and time (R3).
		revs := m.historyJSON(dep)
		if len(revs) != 5 {
			t.Fatalf("want 5 revisions, have %d", len(revs))
		}
		by := map[int]domain.Revision{}
		for i, r := range revs {
			if r.Number != 5-i || r.Status != domain.StatusDeployed {
				t.Fatalf("position %d: %+v", i, r)
			}
			by[r.Number] = r
		}
		for rb, target := range map[int]int{4: 2, 5: 3} {
			r, tg := by[rb], by[target]
			if r.RollbackOf != target || r.ImageRef != tg.ImageRef || r.ImageDigest != tg.ImageDigest || r.DagBundleVersion != tg.DagBundleVersion ||
				r.Description == tg.Description || !r.CreatedAt.After(by[3].CreatedAt) {
				t.Fatalf("r%d must restore r%d's artifacts with its own description and time:\n%+v\n%+v", rb, target, r, tg)
			}
		}

		// The Temporal CLI starts a rollback with plain JSON, and it behaves the same.
		out, err := exec.Command(itest.TemporalCLI(t), "workflow", "execute", "--address", s.Addr, "--type", "RollbackWorkflow", "--task-queue", s.TaskQueue,
			"--workflow-id", "change/"+dep, "--input", `{"deploymentId":"`+dep+`","revision":4,"description":"from the Temporal CLI","requestedBy":"alice","scope":"all","dryRun":false}`).CombinedOutput()
		if err != nil {
			t.Fatalf("temporal workflow execute: %v\n%s", err, out)
		}
		r6 := m.historyJSON(dep)[0]
		if r6.Number != 6 || r6.RollbackOf != 4 || r6.ImageDigest != by[2].ImageDigest || r6.DagBundleVersion != by[2].DagBundleVersion || r6.Description != "from the Temporal CLI" {
			t.Fatalf("r6: %+v", r6)
		}

		// One change at a time (R14): a second request while one runs is refused
		// with the running workflow's id, and records nothing.
		first := m.asWithInput("alice", dep+"\n", "rollback", dep, "--to", "5", "--description", "again") // confirmed by typing the id
		if first.code != 0 || !strings.Contains(first.out, "rollback of "+dep+" to revision 5 started") {
			t.Fatalf("first rollback: %s %s", first.out, first.stderr)
		}
		second := m.as("alice", "rollback", dep, "--to", "2", "--description", "racing", "--yes")
		if second.code != ExitRefused || !strings.Contains(second.stderr, "ChangeInProgress") || !strings.Contains(second.stderr, "change/"+dep) {
			t.Fatalf("second rollback: exit %d %q", second.code, second.stderr)
		}
		if w := m.read("alice", "watch", "change/"+dep); w.code != 0 || !strings.Contains(w.out, "mark deployed") {
			t.Fatalf("watch: exit %d\n%s\n%s", w.code, w.out, w.stderr)
		}
		if revs := m.historyJSON(dep); len(revs) != 7 || revs[0].RollbackOf != 5 {
			t.Fatalf("after the race: %d revisions, top %+v", len(revs), revs[0])
		}
	})
}

// rollbackJSON rolls back as alice in the test's mode.
func (m *cliMode) rollbackJSON(args ...string) workflows.RollbackResult {
	m.t.Helper()
	var res workflows.RollbackResult
	out := m.mustAs("alice", append(append([]string{"rollback"}, args...), "--yes", "--wait", "--output", "json")...)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		m.t.Fatalf("%v: %s", err, out)
	}
	return res
}
