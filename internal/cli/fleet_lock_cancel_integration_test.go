package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
)

// holdChangeLock starts, under change/<dep>, a workflow that no worker
// ever runs: to Temporal it is an ongoing change of dep, so a rollback
// child started under that id is refused as already started (R14), as it
// would be behind a real deploy. It is terminated at the test's end.
func holdChangeLock(t *testing.T, s *stack, dep string) func() {
	t.Helper()
	ctx := context.Background()
	run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "change/" + dep, TaskQueue: itest.UniqueID("nobody-polls")},
		"AnotherChangeHoldingTheLock")
	if err != nil {
		t.Fatalf("holding change/%s: %v", dep, err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			if err := s.Client.TerminateWorkflow(ctx, run.GetID(), run.GetRunID(), "test: the other change ends"); err != nil {
				t.Errorf("releasing change/%s: %v", dep, err)
			}
		}
	}
	t.Cleanup(release)
	return release
}

// fleetChild finds dep's child in a fleet result.
func fleetChild(t *testing.T, res action.FleetResult, dep string) action.FleetChild {
	t.Helper()
	for _, c := range res.Children {
		if c.DeploymentID == dep {
			return c
		}
	}
	t.Fatalf("%s is not in the fleet: %+v", dep, res)
	return action.FleetChild{}
}

// Issue 30: a deployment whose change lock is held is retried until a
// bound, then reported, never skipped silently. Three deployments; after
// the plan was confirmed, another change takes change/<a> for good and
// change/<b> until the fleet is seen waiting for it. The fleet (lock wait
// 30 s) rolls c back at once, b once its lock is free, and reports a as
// failed with ChangeInProgress after its last attempt at the bound,
// without touching it.
func TestFleetRollbackRetriesAHeldChangeLockThenReportsIt(t *testing.T) {
	s := startStack(t)
	directOnly(t, func(t *testing.T, m *cliMode) {
		deps, good, bad := fleetSetup(t, m, 3, func(int) bool { return true }, -1)
		cfg := itest.Config(t)
		ctx := context.Background()
		act := &action.FleetRollback{Config: cfg, Store: itest.Store(t, cfg), Temporal: s.Client, Request: action.FleetRequest{
			Selector: action.FleetSelector{ImageDigest: bad}, Deployments: deps, Description: "bad base image", RequestedBy: "alice",
			Parallel: 3, LockWait: 30 * time.Second}}
		plan, err := act.Plan(ctx, time.Minute)
		if err != nil || len(plan.Items) != 3 {
			t.Fatalf("plan: %v %+v", err, plan)
		}
		holdChangeLock(t, s, deps[0])
		releaseB := holdChangeLock(t, s, deps[1])
		run, err := act.Run(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			p, err := action.FleetProgress(ctx, s.Client, run.GetID(), "alice")
			if err == nil && fleetChild(t, p, deps[1]).State == "waiting-for-lock" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the fleet never waited for %s's lock: %+v %v", deps[1], p, err)
			}
		}
		releaseB()
		var res action.FleetResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		m.recordHistory(s, run.GetID(), "fleet-rollback-lock-held")

		a := fleetChild(t, res, deps[0])
		if a.State != "failed" || a.ErrorType != string(domain.ChangeInProgress) || a.LockWaits < 2 ||
			!strings.Contains(a.Error, "change/"+deps[0]) || a.WorkflowID != "" {
			t.Fatalf("a deployment whose lock stays held must be retried, then reported: %+v", a)
		}
		if revs := m.historyJSON(deps[0]); len(revs) != 2 || revs[0].ImageDigest != bad {
			t.Fatalf("%s was never rolled back and must be untouched: %+v", deps[0], revs)
		}
		b := fleetChild(t, res, deps[1])
		if b.State != "rolled-back" || b.LockWaits < 1 {
			t.Fatalf("a deployment whose lock is freed within the bound must be rolled back: %+v", b)
		}
		c := fleetChild(t, res, deps[2])
		if c.State != "rolled-back" || c.LockWaits != 0 {
			t.Fatalf("a free deployment is rolled back at once: %+v", c)
		}
		for _, dep := range deps[1:] {
			if revs := m.historyJSON(dep); len(revs) != 3 || revs[0].ImageDigest != good || revs[0].Status != domain.StatusDeployed {
				t.Fatalf("%s: %+v", dep, revs)
			}
		}
	})
}

// Issue 30: cancelling a fleet cancels the children that have not passed
// their point of no return and reports the rest. Four deployments,
// --parallel 2, every start check held 10 s by the worker: the fleet is
// cancelled while its first two children wait in their preflight (before
// any container changed). Those two are cancelled by their own workflows
// and reported failed as Cancelled, their deployments still running what
// they ran; the two never started are reported as not started because
// the fleet was cancelled, and are untouched.
func TestFleetRollbackCancelled(t *testing.T) {
	s := startServer(t)
	bin := itest.BuildWorker(t, "../..")
	directOnly(t, func(t *testing.T, m *cliMode) {
		w := itest.StartWorkerProcess(t, bin, "")
		deps, _, bad := fleetSetup(t, m, 4, func(int) bool { return true }, -1)
		w.Kill()
		w = itest.StartWorkerProcess(t, bin, "Preflight=before:10s")
		defer w.Kill()
		cfg := itest.Config(t)
		ctx := context.Background()
		act := &action.FleetRollback{Config: cfg, Store: itest.Store(t, cfg), Temporal: s.Client, Request: action.FleetRequest{
			Selector: action.FleetSelector{ImageDigest: bad}, Deployments: deps, Description: "bad base image", RequestedBy: "alice",
			Parallel: 2}}
		plan, err := act.Plan(ctx, time.Minute)
		if err != nil || len(plan.Items) != 4 {
			t.Fatalf("plan: %v %+v", err, plan)
		}
		run, err := act.Run(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		var running []string
		for deadline := time.Now().Add(2 * time.Minute); len(running) < 2; time.Sleep(200 * time.Millisecond) {
			p, err := action.FleetProgress(ctx, s.Client, run.GetID(), "alice")
			running = nil
			for _, c := range p.Children {
				if err == nil && c.State == "running" {
					running = append(running, c.DeploymentID)
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no two children started: %+v %v", p, err)
			}
		}
		for _, dep := range running {
			waitStarted(t, s, "change/"+dep, "Preflight", 1)
		}
		if err := s.Client.CancelWorkflow(ctx, run.GetID(), ""); err != nil {
			t.Fatal(err)
		}
		var res action.FleetResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatalf("a cancelled fleet still reports: %v", err)
		}
		m.recordHistory(s, run.GetID(), "fleet-rollback-cancelled")
		if !res.Cancelled || res.Count("rolled-back") != 0 || res.Count("failed") != 2 || res.Count("not-started") != 2 {
			t.Fatalf("cancelled fleet: %+v", res)
		}
		for _, dep := range deps {
			c, revs := fleetChild(t, res, dep), m.historyJSON(dep)
			switch c.State {
			case "failed":
				// Its own workflow stopped before any container changed:
				// its revision is recorded as not deployed, and the
				// deployment still runs the revision it ran.
				if c.ErrorType != "Cancelled" || c.WorkflowID != "change/"+dep || len(revs) != 3 || revs[0].Status == domain.StatusDeployed {
					t.Fatalf("%s: a child cancelled before its point of no return: %+v, %+v", dep, c, revs)
				}
			case "not-started":
				if !strings.Contains(c.Error, "the fleet was cancelled") || c.WorkflowID != "" || len(revs) != 2 || revs[0].ImageDigest != bad {
					t.Fatalf("%s: a child never started: %+v, %+v", dep, c, revs)
				}
			default:
				t.Fatalf("%s: %+v", dep, c)
			}
		}
	})
}

// Issue 30: the rest of a cancelled fleet. Two deployments downgraded by
// their rollback (9.1.0 back to 8.0.0, whose metadata downgrade takes
// 10 s), --parallel 1: the fleet is cancelled while the first child's
// metadata downgrade runs, past its point of no return (R16). That child
// is not stopped half-way: it finishes, and the fleet reports what it did;
// the second is reported as not started.
func TestFleetRollbackCancelledPastThePointOfNoReturn(t *testing.T) {
	s := startServer(t)
	bin := itest.BuildWorker(t, "../..")
	directOnly(t, func(t *testing.T, m *cliMode) {
		prefix := itest.UniqueID("flp")
		deps := []string{prefix + "-a", prefix + "-b"}
		w := itest.StartWorkerProcess(t, bin, "")
		defer func() { w.Kill() }()
		for _, dep := range deps {
			itest.RemoveContainers(t, dep)
			m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--env", "REWIND_TEST_TASK_SECONDS=1", "--env", "REWIND_TEST_DOWNGRADE_SECONDS=10",
				"--component", "scheduler=airflow scheduler")
			m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
			m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--wait")
			m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		}
		newer := m.historyJSON(deps[0])[0].ImageDigest
		cfg := itest.Config(t)
		ctx := context.Background()
		act := &action.FleetRollback{Config: cfg, Store: itest.Store(t, cfg), Temporal: s.Client, Request: action.FleetRequest{
			Selector: action.FleetSelector{ImageDigest: newer}, Deployments: deps, Description: "back to 8.0.0", RequestedBy: "alice", Parallel: 1}}
		plan, err := act.Plan(ctx, time.Minute)
		if err != nil || len(plan.Items) != 2 || !plan.Items[0].Plan.Downgrade {
			t.Fatalf("plan: %v %+v", err, plan)
		}
		run, err := act.Run(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		waitStarted(t, s, "change/"+deps[0], "MetadataDowngrade", 1)
		if err := s.Client.CancelWorkflow(ctx, run.GetID(), ""); err != nil {
			t.Fatal(err)
		}
		var res action.FleetResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatalf("a cancelled fleet still reports: %v", err)
		}
		m.recordHistory(s, run.GetID(), "fleet-rollback-cancelled-past-no-return")
		m.recordHistory(s, "change/"+deps[0], "rollback-cancelled-past-no-return")
		a, b := fleetChild(t, res, deps[0]), fleetChild(t, res, deps[1])
		t.Logf("past the point of no return: %+v", a)
		revs := m.historyJSON(deps[0])
		if !res.Cancelled || a.WorkflowID != "change/"+deps[0] || len(revs) != 3 {
			t.Fatalf("the child past its point of no return must be reported: %+v, %+v", res, revs)
		}
		if a.State != "rolled-back" || revs[0].Status != domain.StatusDeployed || revs[0].RollbackOf != 1 {
			t.Fatalf("a child cancelled during its metadata downgrade must finish its rollback: %+v, %+v", a, revs[0])
		}
		if b.State != "not-started" || len(m.historyJSON(deps[1])) != 2 {
			t.Fatalf("the child never started: %+v", b)
		}
	})
}
