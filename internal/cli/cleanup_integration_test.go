package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// The first worker creates the schedule; later workers leave it as an
// operator changed it; --reset-schedule rewrites it from the configuration,
// paused when cleanup is switched off.
func TestCleanupScheduleIsCreatedOnceAndPausedWhenOff(t *testing.T) {
	s := startServer(t)
	for i := 0; i < 2; i++ { // two worker starts
		w, err := startWorker(itest.Config(t))
		if err != nil {
			t.Fatal(err)
		}
		w.Stop()
	}
	ctx := context.Background()
	count := func() int {
		it, err := s.Client.ScheduleClient().List(ctx, client.ScheduleListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if e.ID == workflows.CleanupScheduleID {
				n++
			}
		}
		return n
	}
	// Schedules reach the list through visibility, which lags a little.
	for deadline := time.Now().Add(15 * time.Second); count() != 1; time.Sleep(300 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("want exactly one %s, have %d", workflows.CleanupScheduleID, count())
		}
	}
	h := s.Client.ScheduleClient().GetHandle(ctx, workflows.CleanupScheduleID)
	d, err := h.Describe(ctx)
	if err != nil || d.Schedule.State.Paused || len(d.Info.NextActionTimes) == 0 {
		t.Fatalf("schedule: %+v %v", d, err)
	}
	if next := d.Info.NextActionTimes[0].UTC(); next.Hour() != 3 || next.Minute() != 0 || !strings.Contains(d.Schedule.State.Note, "0 3 * * *") {
		t.Fatalf("the default cron is daily at 03:00: next %v, note %q", next, d.Schedule.State.Note)
	}
	// An operator moves the run to 04:30; a worker started since (with the
	// default configuration) does not put it back.
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		sc := in.Description.Schedule
		sc.Spec = &client.ScheduleSpec{CronExpressions: []string{"30 4 * * *"}}
		return &client.ScheduleUpdate{Schedule: &sc}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := startWorker(itest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	if d, _ := h.Describe(ctx); len(d.Info.NextActionTimes) == 0 || d.Info.NextActionTimes[0].UTC().Hour() != 4 {
		t.Fatalf("a worker start overwrote the operator's schedule: %+v", d.Info.NextActionTimes)
	}
	// The CLI parts, in both modes. rewind serve reads its configuration
	// when it starts, so the switch is off before the remote half starts
	// it. Each half first moves and resumes the schedule as an operator
	// would, so its own reset is what pauses it again.
	t.Setenv("REWIND_CLEANUP_ENABLED", "false")
	eachMode(t, func(t *testing.T, m *cliMode) {
		// One update that also resumes: an update carries the whole state,
		// and the scheduler applies a separate unpause (a patch) before an
		// update of the same batch, whose state (paused by the previous
		// half's reset) would then win.
		err := h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sc := in.Description.Schedule
			sc.Spec = &client.ScheduleSpec{CronExpressions: []string{"30 4 * * *"}}
			sc.State = &client.ScheduleState{Paused: false, Note: "resumed by an operator"}
			return &client.ScheduleUpdate{Schedule: &sc}, nil
		}})
		// The scheduler applies an update asynchronously: wait for it.
		paused := true
		for deadline := time.Now().Add(15 * time.Second); err == nil && paused && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if d, derr := h.Describe(ctx); derr == nil {
				paused = d.Schedule.State.Paused
			}
		}
		if err != nil || paused {
			t.Fatalf("resume: %v (paused %v)", err, paused)
		}
		if out := m.mustRewind("cleanup", "--reset-schedule"); !strings.Contains(out, "paused") || !strings.Contains(out, `"0 3 * * *"`) {
			t.Fatalf("reset: %s", out)
		}
		if d, _ := h.Describe(ctx); !d.Schedule.State.Paused || !strings.Contains(d.Schedule.State.Note, "0 3 * * *") {
			t.Fatalf("reset switched off, the schedule must be the configuration's and paused: %+v", d.Schedule.State)
		}
		if out := m.mustRewind("cleanup", "--status"); !strings.Contains(out, "paused") || !strings.Contains(out, "set aside") {
			t.Fatalf("status:\n%s", out)
		}
		// A cleanup is administration: a user without system.admin is
		// refused (remote: by rewind serve; store-direct, --as is not
		// believed there, so it is not tried).
		if m.remote {
			if r := m.as("alice", "cleanup", "--status"); r.code != ExitRefused || !strings.Contains(r.stderr, "PermissionDenied") {
				t.Fatalf("non-admin cleanup --status: exit %d %q", r.code, r.stderr)
			}
		}
	})
}

// pushAs builds a test image with content of this test's own (a label
// naming the repository) and pushes it: its digest is unique, so removing
// it cannot touch what other tests, sharing this Docker Engine, use.
func pushAs(t *testing.T, tag, repo string) string {
	t.Helper()
	ref := strings.Split(itest.Image(t, tag), "/")[0] + "/" + repo + ":" + tag
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+itest.Image(t, tag)+"\nLABEL rewind.test.repo="+repo+"\n"), 0o644)
	build := exec.Command("docker", "build", "-q", "-t", ref, dir)
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	for _, cmd := range []*exec.Cmd{build, exec.Command("docker", "push", "-q", ref)} {
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
		}
	}
	return ref
}

func TestCleanupNowRemovesOldRevisionsAndWhatOnlyTheyUsed(t *testing.T) {
	startStack(t)
	// Both halves clean up: each ages its own deployment's first revision,
	// so each run removes exactly that one (the other half's is gone).
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("clean")
		itest.RemoveContainers(t, dep)
		old, cur := pushAs(t, "9.1.0", dep+"/old"), pushAs(t, "8.0.0", dep+"/cur")
		m.mustRewind("deployment", "create", dep, "--dag-source", "bundle", "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", old, "--dags", dagDir(t, "a"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", cur, "--dags", dagDir(t, "b"), "--wait")
		r1 := m.historyJSON(dep)[1]

		// Make r1 older than the 90-day age.
		cfg := itest.Config(t)
		st, err := store.Open(context.Background(), cfg.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.DB().Exec(`UPDATE revisions SET created_at = created_at - $1 WHERE deployment_id=$2 AND number=1`, (100 * 24 * time.Hour).Microseconds(), dep); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if out := m.mustRewind("history", dep); !strings.Contains(out, "no: outside the 90-day window") {
			t.Fatalf("history must mark r1 outside the window:\n%s", out)
		}

		var res workflows.CleanupResult
		if err := json.Unmarshal([]byte(m.mustRewind("cleanup", "--now", "--wait", "-o", "json")), &res); err != nil {
			t.Fatal(err)
		}
		if res.Revisions != 1 || res.BundleDirs != 1 || res.BundleObjects != 1 || res.Images != 1 {
			t.Fatalf("result: %+v", res)
		}
		if revs := m.historyJSON(dep); len(revs) != 1 || revs[0].Number != 2 {
			t.Fatalf("history after cleanup: %+v", revs)
		}
		if _, err := os.Stat(filepath.Join(cfg.BundleRoot, dep, "bundles", r1.DagBundleVersion)); !os.IsNotExist(err) {
			t.Fatalf("r1's bundle directory must be gone: %v", err)
		}
		if err := exec.Command("docker", "image", "inspect", old).Run(); err == nil {
			t.Fatalf("r1's image %s must be removed", old)
		}
		if err := exec.Command("docker", "image", "inspect", itest.Image(t, "9.1.0")).Run(); err != nil {
			t.Fatal("the same image under another name must survive")
		}
		if err := exec.Command("docker", "image", "inspect", cur).Run(); err != nil {
			t.Fatal("the current image must survive")
		}
		if r := m.as("alice", "rollback", dep, "--to", "1", "--description", "gone", "--yes"); r.code != ExitRefused || !strings.Contains(r.stderr, "NotFound") {
			t.Fatalf("rollback to a removed revision: exit %d %q", r.code, r.stderr)
		}
		if out := m.mustRewind("cleanup", "--status"); !strings.Contains(out, "removed 1 revisions") {
			t.Fatalf("status:\n%s", out)
		}
	})
}

// A cleanup over more deployments than one run's batches continues as new
// and carries its totals across runs, on the real server.
func TestCleanupContinuesAsNewAndKeepsItsTotals(t *testing.T) {
	s := startStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		for i := 0; i < 3; i++ {
			m.mustRewind("deployment", "create", itest.UniqueID("can"), "--component", "scheduler=airflow scheduler")
		}
		ctx := context.Background()
		id := itest.UniqueID("cleanup-can")
		run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.TaskQueue}, workflows.CleanupWorkflowName,
			workflows.CleanupInput{OlderThanDays: 90, BatchSize: 1, BatchesPerRun: 1})
		if err != nil {
			t.Fatal(err)
		}
		firstRun := run.GetRunID() // Get follows the runs, and GetRunID with it
		var res workflows.CleanupResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		if res.Batches < 3 || res.Deployments < 3 {
			t.Fatalf("one batch of one deployment per run must add up over the runs: %+v", res)
		}
		first, err := s.Client.DescribeWorkflowExecution(ctx, id, firstRun)
		if err != nil {
			t.Fatal(err)
		}
		if st := first.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			t.Fatalf("the first run must have continued as new: %s", st)
		}
		if !m.remote { // the remote run's histories are the same
			recordRun(t, s, id, firstRun, "cleanup-continued-as-new")
			recordHistory(t, s, id, "cleanup-last-run")
		}
	})
}
