package cli

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// Issue 27 item 9: the most common bad deploy — a scheduler that starts,
// passes the deploy's checks, then exits a few seconds in and is restarted
// by Docker in a loop — is rolled back within the bake interval × failures
// (plus the few seconds before its first crash), not retried as a probe
// error for minutes.
func TestAutomaticRollbackOfACrashLoopingScheduler(t *testing.T) {
	s := startStack(t)
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("crashloop")
		itest.RemoveContainers(t, dep)
		const interval, failures, crashAfter = 3 * time.Second, 2, 3 * time.Second
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--auto-rollback", "--bake", "2m", "--bake-interval", interval.String(),
			"--bake-failures", "2", "--component", "scheduler=airflow scheduler")
		shown := m.deploymentJSON(dep)
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustRewind("grant", shown.AutoRollback.EnabledBy, "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-crashloop"), "--wait") // r2: deploys, then crash-loops
		r2 := m.historyJSON(dep)[0]
		if r2.Number != 2 || r2.Status != domain.StatusDeployed {
			t.Fatalf("the crash-looping image must deploy (it crashes %s in): %+v", crashAfter, r2)
		}
		var res workflows.BakeResult
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := s.Client.GetWorkflow(ctx, "bake/"+dep, "").Get(ctx, &res); err != nil {
			t.Fatalf("bake: %v", err)
		}
		if res.Outcome != "rolled-back" || !strings.Contains(res.Evidence, "scheduler") || !strings.Contains(res.Evidence, "restart") {
			t.Fatalf("a crash-looping scheduler must be rolled back: %+v", res)
		}
		r3 := m.waitRevision(dep, 3, 2*time.Minute)
		if r3.Status != domain.StatusDeployed || r3.RollbackOf != 1 || r3.CreatedBy != domain.AutomaticRequester || !strings.Contains(r3.Description, "exiting 1") {
			t.Fatalf("the automatic rollback: %+v", r3)
		}
		// Judged within interval × failures after the first crash, plus
		// the probes' own time; the rollback's duration comes on top.
		if limit := r2.FinishedAt.Add(crashAfter + interval*failures + 5*time.Second); r3.CreatedAt.After(limit) {
			t.Fatalf("rolled back at %s, %s after the deploy; want within %s", r3.CreatedAt, r3.CreatedAt.Sub(*r2.FinishedAt), limit.Sub(*r2.FinishedAt))
		}
		if st := status(t, "rewind-"+dep+"-scheduler"); st["runtime"] != "9.1.0" {
			t.Fatalf("after the automatic rollback: %v", st)
		}
		if state, _ := stateOf("rewind-" + dep + "-scheduler"); state != "running" {
			t.Fatalf("the scheduler after the rollback: %s", state)
		}
		m.recordHistory(s, "bake/"+dep, "bake-rolled-back")
	})
}

// Issue 27 item 8: while another change holds the deployment (here a
// configuration change whose swap is held back by a fault, during which
// the scheduler is stopped as a swap stops it), the bake does not judge
// what it sees; and a person's rollback ends the bake as soon as it has
// recorded its revision, before it finishes.
func TestBakeDuringOtherChanges(t *testing.T) {
	s := startServer(t)
	const hold = 8 * time.Second
	w := startFaultWorker(t, "SwapComponents=before:"+hold.String())
	t.Cleanup(w.Stop)
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("bakechg")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--auto-rollback", "--bake", "5m", "--bake-interval", "1s",
			"--bake-failures", "2", "--component", "scheduler=airflow scheduler")
		shown := m.deploymentJSON(dep)
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustRewind("grant", shown.AutoRollback.EnabledBy, "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait") // r2, baked
		sched := "rewind-" + dep + "-scheduler"

		// (b) A configuration change: its swap waits `hold`; meanwhile the
		// scheduler is down, as the swap's stop of the old container
		// leaves it. Two probes a second would roll back without the rule.
		m.mustRewind("deployment", "update", dep, "--env", "BAKE_TEST=1")
		m.mustAs("alice", "deployment", "update", dep, "--apply")
		waitChange(t, s, dep, workflows.ApplyConfigWorkflowName)
		if out, err := exec.Command("docker", "stop", "-t", "1", sched).CombinedOutput(); err != nil {
			t.Fatalf("docker stop: %v: %s", err, out)
		}
		waitChangeClosed(t, s, dep)
		if state, _ := stateOf(sched); state != "running" {
			t.Fatalf("the configuration change left the scheduler %s", state)
		}
		time.Sleep(3 * time.Second) // judged, healthy probes again
		if n := notJudged(t, s, dep); n < 3 {
			t.Fatalf("the probes during the configuration change must have been seen and not judged: %d", n)
		}
		if desc, err := s.Client.DescribeWorkflowExecution(context.Background(), "bake/"+dep, ""); err != nil ||
			desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			var res workflows.BakeResult
			_ = s.Client.GetWorkflow(context.Background(), "bake/"+dep, "").Get(context.Background(), &res)
			t.Fatalf("the bake must still run after another change's swap: %+v (%v)", res, err)
		}

		// (c) A person's rollback ends the bake once its revision exists,
		// while its own swap is still held back.
		m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "a person rolls back", "--yes")
		var res workflows.BakeResult
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Client.GetWorkflow(ctx, "bake/"+dep, "").Get(ctx, &res); err != nil {
			t.Fatalf("bake: %v", err)
		}
		if revs := m.historyJSON(dep); revs[0].Number != 3 || revs[0].Status != domain.StatusInitialized {
			t.Fatalf("the bake must end before the person's rollback finishes: %+v", revs[0])
		}
		if res.Outcome != "ended" || !strings.Contains(res.Evidence, "revision 3 (a rollback by alice") {
			t.Fatalf("a person's rollback must end the bake: %+v", res)
		}
		r3 := m.waitRevision(dep, 3, 2*time.Minute)
		if r3.Status != domain.StatusDeployed || r3.CreatedBy != "alice" || len(m.historyJSON(dep)) != 3 {
			t.Fatalf("the person's rollback: %+v", r3)
		}
		m.recordHistory(s, "bake/"+dep, "bake-ended-by-a-rollback")
	})
}

// Issue 27 item 8: a bake that continued as new still decides: the run the
// deploy recorded is the first of the chain, which the server names. Here
// the deploy's own bake is replaced by one continuing after every probe
// (ProbesPerRun 1), recorded in the store as StartBake records it.
func TestAContinuedBakeStillDecides(t *testing.T) {
	s := startStack(t)
	directOnly(t, func(t *testing.T, m *cliMode) { // it reads the store directly
		dep := itest.UniqueID("bakecan")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--auto-rollback", "--bake", "2m", "--bake-interval", "2s",
			"--bake-failures", "3", "--component", "scheduler=airflow scheduler")
		shown := m.deploymentJSON(dep)
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustRewind("grant", shown.AutoRollback.EnabledBy, "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-crashloop"), "--wait")
		ctx := context.Background()
		req := activities.BakeRequest{DeploymentID: dep, Revision: 2, Previous: 1, Baseline: -1, Settings: *shown.AutoRollback, ProbesPerRun: 1}
		run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bake/" + dep, TaskQueue: itest.Config(t).TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING}, workflows.BakeWorkflowName, req)
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(ctx, itest.Config(t).DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.RecordBakeRun(ctx, run.GetRunID(), dep, 2, time.Now(), time.Now().Add(-48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		var res workflows.BakeResult
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := s.Client.GetWorkflow(wctx, "bake/"+dep, "").Get(wctx, &res); err != nil {
			t.Fatalf("bake: %v", err)
		}
		if res.Outcome != "rolled-back" || res.Probes < 3 {
			t.Fatalf("the continued bake must decide the rollback: %+v", res)
		}
		desc, err := s.Client.DescribeWorkflowExecution(ctx, "bake/"+dep, "")
		if err != nil || desc.GetWorkflowExecutionInfo().GetExecution().GetRunId() == run.GetRunID() {
			t.Fatalf("the bake did not continue as new: %v", err)
		}
		if r3 := m.waitRevision(dep, 3, 2*time.Minute); r3.Status != domain.StatusDeployed || r3.CreatedBy != domain.AutomaticRequester || r3.RollbackOf != 1 {
			t.Fatalf("the automatic rollback: %+v", r3)
		}
		m.recordHistory(s, "bake/"+dep, "bake-continued-rolled-back")
	})
}

// waitChange waits until change/<dep> runs a workflow of type wt.
func waitChange(t *testing.T, s *stack, dep, wt string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		desc, err := s.Client.DescribeWorkflowExecution(context.Background(), "change/"+dep, "")
		if err == nil && desc.GetWorkflowExecutionInfo().GetType().GetName() == wt &&
			desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s running on %s: %v", wt, dep, err)
		}
	}
}

func waitChangeClosed(t *testing.T, s *stack, dep string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Client.GetWorkflow(ctx, "change/"+dep, "").Get(ctx, nil); err != nil {
		t.Fatalf("change/%s: %v", dep, err)
	}
}

// notJudged counts the bake's change checks that saw another change.
func notJudged(t *testing.T, s *stack, dep string) int {
	t.Helper()
	n := 0
	it := s.Client.GetWorkflowHistory(context.Background(), "bake/"+dep, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
			for _, p := range a.GetResult().GetPayloads() {
				if strings.Contains(string(p.GetData()), `"otherChange":"change/`) {
					n++
				}
			}
		}
	}
	return n
}
