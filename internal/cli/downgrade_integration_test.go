package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/runtime"
	"github.com/rewindhq/rewind/workflows"
)

// The operator story: roll back from 9.1.0 to an 8.0.0 image that
// deployed fine last week but no longer starts. The preflight refuses it
// before anything changed: no container replaced, no metadata step run.
func TestRollbackToAnImageThatNoLongerStartsIsRefusedByThePreflight(t *testing.T) {
	startStack(t)
	cfg := itest.Config(t)
	// Long (a downgrade, health checks that time out, a killed worker or a
	// drain deadline): remote only under make test-remote.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("pre")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--env", "REWIND_TEST_TASK_SECONDS=30", "--env", "DB_PASSWORD=s3cret-pw-42",
			"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		seedDeployed(t, itest.Store(t, cfg), dep, "8.0.0-broken", "8.0.0", "2.9.3")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		before := containerIDs(t, dep)
		events := itest.RecordEvents(t, dep)

		r := m.as("alice", "rollback", dep, "--to", "1", "--description", "9.1.0 broke the ETL", "--yes", "--wait")
		if r.code != ExitRefused || !strings.Contains(r.stderr, "PreflightFailed") || !strings.Contains(r.stderr, "ModuleNotFoundError") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		// The image printed its settings; the password it printed is masked.
		if strings.Contains(r.stderr, "s3cret-pw-42") || !strings.Contains(r.stderr, "DB_PASSWORD=xxxxx") {
			t.Fatalf("the output a failed start check passes on must mask the deployment's secrets: %s", r.stderr)
		}
		if after := containerIDs(t, dep); !sameRunning(before, after, dep, "scheduler", "worker") {
			t.Fatalf("the preflight must touch no container: %v → %v", before, after)
		}
		evs := events()
		if n := itest.CountEvents(evs, "create", "oneoff-db-downgrade") + itest.CountEvents(evs, "die", dep+"-scheduler") + itest.CountEvents(evs, "kill", dep+"-worker"); n != 0 {
			t.Fatalf("nothing may stop and no metadata step may run: %d events %+v", n, evs)
		}
		if itest.CountEvents(evs, "start", "oneoff-preflight") == 0 {
			t.Fatalf("the preflight ran no container: %+v", evs)
		}
		top := m.historyJSON(dep)[0]
		if top.Number != 3 || top.Status != domain.StatusFailed || !strings.Contains(top.FailureReason, "PreflightFailed") || strings.Contains(top.FailureReason, "s3cret-pw-42") {
			t.Fatalf("the attempt is in history as FAILED with why: %+v", top)
		}
		if d := m.deploymentJSON(dep); d.CurrentRevision != 2 {
			t.Fatalf("current revision moved: %d", d.CurrentRevision)
		}
	})
}

// R16: a downgrade whose older image passes the preflight but then fails
// its health check. The newer components stop before the metadata step,
// the snapshot taken first is restored (the table `db downgrade` dropped is
// back with its rows), the newer image runs again, and the revision is
// FAILED "metadata restored".
func TestFailedDowngradeRestoresTheMetadataSnapshot(t *testing.T) {
	s := startServer(t)
	t.Setenv("REWIND_DOCKER_NETWORK", "host") // the components reach the test PostgreSQL on 127.0.0.1
	t.Setenv("REWIND_HEALTH_TIMEOUT", "20s")
	t.Setenv("REWIND_HEALTH_ATTEMPTS", "2")
	itest.StartWorker(t)
	cfg := itest.Config(t)
	// Long (a downgrade, health checks that time out, a killed worker or a
	// drain deadline): remote only under make test-remote.
	// Each half has a metadata database of its own.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		conn, db := itest.MetadataDatabase(t)
		dep := itest.UniqueID("snap")
		itest.RemoveContainers(t, dep)
		// The scheduler heartbeats into the database every 0.1 s and takes
		// 2 s to stop, heartbeating all along, as a busy real one does.
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--env", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="+conn,
			"--env", "REWIND_TEST_TASK_SECONDS=30", "--env", "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=0.1", "--env", "REWIND_TEST_STOP_SECONDS=2",
			"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		seedDeployed(t, itest.Store(t, cfg), dep, "8.0.0-unhealthy", "8.0.0", "2.9.3")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		newer := rows(t, db, `SELECT note FROM feature_3_0_2 ORDER BY id`)
		if len(newer) == 0 {
			t.Fatal("the 9.1.0 scheduler recorded nothing in its feature table")
		}
		plan := m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "x", "--dry-run")
		if !strings.Contains(plan, "Point of no return: none") {
			t.Fatalf("a deployment that names its metadata database has no point of no return:\n%s", plan)
		}
		events := itest.RecordEvents(t, dep)

		r := m.as("alice", "rollback", dep, "--to", "1", "--description", "back to 8.0.0", "--yes", "--wait")
		if r.code != ExitRefused || !strings.Contains(r.stderr, "Unhealthy") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		top := m.historyJSON(dep)[0]
		if top.Number != 3 || top.Status != domain.StatusFailed || !strings.Contains(top.FailureReason, "metadata restored from snapshot "+dep+"/r3.dump") ||
			top.MetadataSnapshot != dep+"/r3.dump" {
			t.Fatalf("revision: %+v", top)
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "snapshots", dep, "r3.dump")); err != nil {
			t.Fatalf("the snapshot file: %v", err)
		}
		// The table the downgrade dropped is back, with the rows it had.
		restored := rows(t, db, `SELECT note FROM feature_3_0_2 ORDER BY id`)
		if len(restored) < len(newer) || strings.Join(restored[:len(newer)], "|") != strings.Join(newer, "|") {
			t.Fatalf("feature_3_0_2 after the restore: %v, before the rollback: %v", restored, newer)
		}
		if runs := rows(t, db, `SELECT to_version FROM rewind_test_downgrade_runs`); len(runs) != 1 || runs[0] != "2.9.3" {
			t.Fatalf("the metadata downgrade runs once, to 2.9.3: %v", runs)
		}
		// Docker's own record of the order: the newer scheduler and worker were
		// down before the downgrade one-off started.
		evs := events()
		var oneOff int64
		for _, e := range evs {
			if e.Status == "start" && strings.Contains(e.Name(), "oneoff-db-downgrade") {
				oneOff = e.TimeNano
				break
			}
		}
		if oneOff == 0 {
			t.Fatalf("no metadata downgrade started: %+v", evs)
		}
		for _, comp := range []string{"scheduler", "worker"} {
			stopped := false
			for _, e := range evs {
				if e.Status == "die" && e.Name() == "rewind-"+dep+"-"+comp && e.TimeNano < oneOff {
					stopped = true
				}
			}
			if !stopped {
				t.Fatalf("the newer %s was not down before the metadata downgrade started: %+v", comp, evs)
			}
		}
		// Issue 27: the snapshot is taken once the newer scheduler is down,
		// so the restore keeps every heartbeat it wrote while stopping; a
		// snapshot taken before the stop lost its last 2 s.
		var died int64
		for _, e := range evs {
			if e.Status == "die" && e.Name() == "rewind-"+dep+"-scheduler" && e.TimeNano < oneOff {
				died = e.TimeNano
			}
		}
		var last time.Time
		if err := db.QueryRow(context.Background(), `SELECT max(at) FROM rewind_test_heartbeats WHERE airflow_version = '3.0.2' AND at < $1`,
			time.Unix(0, died)).Scan(&last); err != nil {
			t.Fatal(err)
		}
		if lost := time.Unix(0, died).Sub(last); lost > 600*time.Millisecond {
			t.Fatalf("the restore lost the newer scheduler's last %s of heartbeats before it stopped", lost)
		}
		if st := status(t, "rewind-"+dep+"-scheduler"); st["runtime"] != "9.1.0" {
			t.Fatalf("the newer image must run again: %v", st)
		}
		if st, _ := stateOf("rewind-" + dep + "-worker"); st != "running" {
			t.Fatalf("the newer worker must run again: %s", st)
		}
		m.recordHistory(s, workflows.ChangeWorkflowID(dep), "rollback-snapshot-restored")
	})
}

// A worker SIGKILLed while the metadata downgrade one-off runs: the one-off
// is not killed, it runs once, and the rollback converges on a new worker.
func TestWorkerKilledDuringTheMetadataDowngradeConverges(t *testing.T) {
	s := startServer(t)
	bin := itest.BuildWorker(t, "../..")
	// Long (a downgrade, health checks that time out, a killed worker or a
	// drain deadline): remote only under make test-remote.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("dgk")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--env", "REWIND_TEST_TASK_SECONDS=1", "--env", "REWIND_TEST_DOWNGRADE_SECONDS=10",
			"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		w := itest.StartWorkerProcess(t, bin, "")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		events := itest.RecordEvents(t, dep)
		m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "back to 8.0.0", "--yes")
		killDuringOneOff(t, w, bin, "rewind-"+dep+"-oneoff-db-downgrade", "metadata downgrade")
		top := m.waitRevision(dep, 3, 3*time.Minute)
		if top.Status != domain.StatusDeployed || top.RollbackOf != 1 {
			t.Fatalf("the rollback must converge: %+v", top)
		}
		evs := events()
		if c, st := itest.CountEvents(evs, "create", "oneoff-db-downgrade"), itest.CountEvents(evs, "start", "oneoff-db-downgrade"); c != 1 || st != 1 {
			t.Fatalf("the metadata downgrade must run exactly once: %d creates, %d starts", c, st)
		}
		if n := itest.CountEvents(evs, "kill", "oneoff-db-downgrade"); n != 0 {
			t.Fatalf("the migration was signalled %d times", n)
		}
		if st := status(t, "rewind-"+dep+"-scheduler"); st["runtime"] != "8.0.0" {
			t.Fatalf("after the rollback: %v", st)
		}
		desc, err := s.Client.DescribeWorkflowExecution(context.Background(), workflows.ChangeWorkflowID(dep), "")
		if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			t.Fatalf("change workflow: %v %v", desc.GetWorkflowExecutionInfo().GetStatus(), err)
		}
	})
}

// R11: a draining worker that ignores SIGTERM is killed at its deadline,
// though the worker process that drained it was restarted in between: the
// deadline is a durable timer, not a goroutine.
func TestDrainDeadlineSurvivesAWorkerRestart(t *testing.T) {
	s := startServer(t)
	t.Setenv("REWIND_DRAIN_TIMEOUT", "12s")
	cfg := itest.Config(t)
	// Long (a downgrade, health checks that time out, a killed worker or a
	// drain deadline): remote only under make test-remote.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		w, err := startWorker(cfg)
		if err != nil {
			t.Fatal(err)
		}
		dep := itest.UniqueID("drn")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--env", "REWIND_TEST_IGNORE_SIGTERM=1", "--env", "REWIND_TEST_TASK_SECONDS=120",
			"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		w.Stop()
		out, err := exec.Command("docker", "ps", "--filter", "name=rewind-"+dep+"-worker-draining-", "--format", "{{.ID}} {{.Names}}").Output()
		f := strings.Fields(string(out))
		if err != nil || len(f) != 2 {
			t.Fatalf("one draining worker should run: %q %v", out, err)
		}
		id, name := f[0], f[1]
		// The deadline is the one recorded on the container at the swap (the
		// deploy returned some time after it).
		deadline, ok := runtime.DrainDeadline(name)
		if !ok {
			t.Fatalf("the deadline must be recorded on the container: %s", name)
		}
		itest.StartWorker(t) // a new worker process would do the same: nothing in memory carries over
		if wait := time.Until(deadline) - 2*time.Second; wait > 0 {
			time.Sleep(wait)
			if st, _ := stateOf(id); st != "running" {
				t.Fatalf("before its deadline the worker keeps draining: %s", st)
			}
		}
		// The kill removes the container, so a poll may see it exited (137) or
		// already gone; the drain workflow's result records the exit code.
		for limit := time.Now().Add(45 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			st, code := stateOf(id)
			if st == "exited" && code != "137" {
				t.Fatalf("killed at the deadline means exit 137, got %s", code)
			}
			if st == "exited" || st == "" {
				break
			}
			if time.Now().After(limit) {
				t.Fatalf("the draining worker still %s 45s after its deadline", st)
			}
		}
		wid := workflows.DrainWorkflowID(dep, id)
		var res string
		if err := s.Client.GetWorkflow(context.Background(), wid, "").Get(context.Background(), &res); err != nil || !strings.Contains(res, "killed at its drain deadline (exit 137)") {
			t.Fatalf("%s: %q %v", wid, res, err)
		}
		m.recordHistory(s, wid, "drain-deadline")
	})
}

// sameRunning: the named components run the same containers as before.
func sameRunning(before, after map[string]string, dep string, comps ...string) bool {
	for _, c := range comps {
		n := "rewind-" + dep + "-" + c
		if before[n] == "" || before[n] != after[n] {
			return false
		}
	}
	return true
}
