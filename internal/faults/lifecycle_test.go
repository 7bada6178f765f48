package faults

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// The failure paths of issue 27 around a change's lifecycle: a crash that
// loses a swap's report, a worker stopped mid-swap, a change cancelled
// while a Docker step runs, a Docker stop that hangs. Each runs on a
// deployment of its own (their settings differ from the suite's). The
// two that wait out a deadline or a bound (about a minute each) run in
// `make faults` only.
func (su *suite) lifecycle() {
	if full {
		su.onDeployment("drain", []string{"REWIND_TEST_IGNORE_SIGTERM=1"}, su.killAfterSwapKeepsTheDrainDeadline)
	}
	su.onDeployment("sigterm", nil, su.sigtermMidSwapFinishesTheSwap)
	su.onDeployment("cancel", nil, su.cancelDuringStopLeavesNothingStopped)
	if full {
		su.onDeployment("hang", nil, su.hangingStopIsBounded)
	}
}

// onDeployment runs f with su.dep a new deployment (bundle DAGs, a
// scheduler and a worker, env on top of the suite's), then puts su.dep back.
func (su *suite) onDeployment(prefix string, env []string, f func()) {
	t := su.t
	main := su.dep
	defer func() { su.dep = main }()
	su.dep = itest.UniqueID(prefix)
	itest.RemoveContainers(t, su.dep)
	args := []string{"deployment", "create", su.dep, "--dag-source", "bundle", "--dag-deploy", "--rollback-enabled", "--env", "REWIND_TEST_TASK_SECONDS=1",
		"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker"}
	for _, e := range env {
		args = append(args, "--env", e)
	}
	rewind(t, args...)
	rewind(t, "grant", "alice", "--deployment", su.dep, "--role", "editor")
	f()
}

func containerID(name string) string {
	out, _ := exec.Command("docker", "inspect", "--format", "{{.Id}}", name).Output()
	return strings.TrimSpace(string(out))
}

func containerState(nameOrID string) string {
	out, _ := exec.Command("docker", "inspect", "--format", "{{.State.Status}} {{.Config.Image}}", nameOrID).Output()
	return strings.TrimSpace(string(out))
}

// SIGKILL right after SwapComponents did its work, before it reported: the
// retry finds the swap done and must still report the old worker it left
// draining, so its deadline is enforced. The old worker ignores SIGTERM:
// only the deadline (REWIND_DRAIN_TIMEOUT, 30 s here) ends it.
func (su *suite) killAfterSwapKeepsTheDrainDeadline() {
	t := su.t
	su.deploy(1, true) // r1: 8.0.0
	old := containerID("rewind-" + su.dep + "-worker")
	su.killDuring("deploy", "SwapComponents", "after", 2, 0) // r2: 9.1.0, an upgrade: the worker drains
	fault := "SIGKILL after SwapComponents: drain deadline"
	lost := 0
	if err := su.wait(workflows.DrainWorkflowID(su.dep, old), "", nil); err != nil {
		t.Errorf("%s: no drain deadline for the worker the crashed attempt drained: %v", fault, err)
		lost++
	} else if st := containerState(old); strings.HasPrefix(st, "running") {
		t.Errorf("%s: the old worker still runs after its deadline: %s", fault, st)
		lost++
	}
	su.record(fault, lost, 0)
}

// SIGTERM while SwapComponents runs: the worker stops polling both its
// queues, lets the swap finish and report within REWIND_WORKER_STOP_TIMEOUT,
// and only then closes its clients. The swap is not run again.
func (su *suite) sigtermMidSwapFinishesTheSwap() {
	t := su.t
	su.deploy(1, true)
	su.w.Kill()
	su.w = su.startWorker("SwapComponents=before:3s")
	before := len(history(t, su.dep))
	su.deploy(2, false)
	id := workflows.ChangeWorkflowID(su.dep)
	su.waitStarted(id, "SwapComponents")
	pid := su.w.Pid()
	su.w.Terminate()
	su.w = su.startWorker("")
	fault := "SIGTERM during SwapComponents deploy"
	su.converge(id, before, fault)
	top := history(t, su.dep)[0]
	attempts, by := 0, ""
	it := su.s.Client.GetWorkflowHistory(context.Background(), top.WorkflowID, top.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	swaps := map[int64]bool{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "SwapComponents" {
			swaps[e.GetEventId()] = true
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && swaps[a.GetScheduledEventId()] {
			attempts = int(a.GetAttempt())
		}
		if a := e.GetActivityTaskCompletedEventAttributes(); a != nil && swaps[a.GetScheduledEventId()] {
			by = a.GetIdentity()
		}
	}
	if attempts != 1 || !strings.HasPrefix(by, fmt.Sprint(pid, "@")) {
		t.Errorf("%s: the stopping worker (pid %d) must finish the swap it had started: attempt %d, completed by %q", fault, pid, attempts, by)
		su.record(fault+": finished by the stopping worker", 1, 0)
	}
}

// startRollback starts a rollback of su.dep to target the way every client
// does, and returns its workflow id.
func (su *suite) startRollback(target int, why string) string {
	t := su.t
	_, err := action.StartChange(context.Background(), itest.Config(t), su.s.Client, su.dep, workflows.RollbackWorkflowName, workflows.KindRollback, "alice", why,
		workflows.RollbackInput{DeploymentID: su.dep, Revision: target, Description: why, RequestedBy: "alice", Scope: "all"})
	if err != nil {
		t.Fatal(err)
	}
	return workflows.ChangeWorkflowID(su.dep)
}

// componentsRunOn says which of the scheduler and worker do not run the
// digest.
func (su *suite) componentsNotOn(digest string) []string {
	var bad []string
	for _, comp := range []string{"scheduler", "worker"} {
		if st := containerState("rewind-" + su.dep + "-" + comp); !strings.HasPrefix(st, "running") || !strings.Contains(st, digest) {
			bad = append(bad, comp+": "+st)
		}
	}
	return bad
}

// A downgrading rollback cancelled while StopComponents runs: the change
// waits until the step has stopped before it compensates, so the
// compensation's restart is the last word and no component is left
// stopped (a step that learnt of the cancel late used to stop components
// after they had been put back).
func (su *suite) cancelDuringStopLeavesNothingStopped() {
	t := su.t
	su.deploy(1, true) // 8.0.0
	su.deploy(2, true) // 9.1.0
	newer := history(t, su.dep)[0]
	su.w.Kill()
	su.w = su.startWorker("StopComponents=before:4s")
	id := su.startRollback(1, "fault: cancel during the stop")
	su.waitStarted(id, "StopComponents")
	if err := su.s.Client.CancelWorkflow(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	fault := "cancel during StopComponents rollback"
	err := su.wait(id, "", nil)
	time.Sleep(6 * time.Second) // past the step's pause: anything it would still stop is stopped by now
	lost := 0
	if err == nil {
		t.Errorf("%s: the cancelled rollback completed", fault)
		lost++
	}
	if top := history(t, su.dep)[0]; top.Number != newer.Number+1 || top.Status != domain.StatusFailed {
		t.Errorf("%s: the cancelled rollback's revision: %+v", fault, top)
		lost++
	}
	if bad := su.componentsNotOn(newer.ImageDigest); len(bad) > 0 {
		t.Errorf("%s: components left off the newer image: %v", fault, bad)
		lost += len(bad)
	}
	su.w.Kill()
	su.w = su.startWorker("")
	su.record(fault, lost, 0)
}

// A Docker stop that hangs (a scheduler that takes 10 minutes to stop,
// with REWIND_STOP_TIMEOUT 10m): the step's wall-clock bound (20 s here)
// fires, the rollback is compensated and ends FAILED naming the bound, and
// the deployment's change lock is released.
func (su *suite) hangingStopIsBounded() {
	t := su.t
	su.deploy(1, true) // 8.0.0, stops quickly
	// Only the components of the next revision take 10 minutes to stop.
	rewind(t, "deployment", "update", su.dep, "--env", "REWIND_TEST_STOP_SECONDS=600")
	su.deploy(2, true) // 9.1.0
	newer := history(t, su.dep)[0]
	su.w.Kill()
	su.w = itest.StartWorkerProcessEnv(t, su.bin, "", "REWIND_STOP_TIMEOUT=10m", "REWIND_HOST_STEP_BOUND=20s")
	start := time.Now()
	id := su.startRollback(1, "fault: the stop hangs")
	fault := "Docker stop hangs: bound fires, lock released"
	err := su.wait(id, "", nil)
	took := time.Since(start)
	lost := 0
	top := history(t, su.dep)[0]
	if err == nil || top.Status != domain.StatusFailed || !strings.Contains(top.FailureReason, "REWIND_HOST_STEP_BOUND") ||
		!strings.Contains(top.FailureReason, "components put back") {
		t.Errorf("%s: after %s: %v; revision %+v", fault, took, err, top)
		lost++
	}
	desc, derr := su.s.Client.DescribeWorkflowExecution(context.Background(), id, "")
	if derr != nil || desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("%s: the change still holds the lock: %v", fault, derr)
		lost++
	}
	if took > 3*time.Minute {
		t.Errorf("%s: the rollback held the deployment for %s with a 20 s bound", fault, took)
		lost++
	}
	if bad := su.componentsNotOn(newer.ImageDigest); len(bad) > 0 {
		t.Errorf("%s: components left off the newer image: %v", fault, bad)
		lost += len(bad)
	}
	t.Logf("%s: ended after %s: %s", fault, took, top.FailureReason)
	su.w.Kill()
	su.w = su.startWorker("")
	su.record(fault, lost, 0)
}
