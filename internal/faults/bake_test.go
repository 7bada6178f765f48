package faults

import (
	"context"
	"encoding/json"
	"os/exec"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// bakeFaults (issue 27 items 8 and 9), with the worker binary:
//   - a crash-looping scheduler after a deploy is rolled back within the
//     bake interval × failures of its first crash (plus the probes' time);
//   - a bake probe during another change's swap (a configuration change
//     held before its swap while the scheduler is down, as a swap leaves
//     it) is not judged: no automatic rollback, the bake goes on.
//
// A row's "lost" counts a bad deploy not rolled back in time, "duplicated"
// an automatic rollback nobody's probes justified.
func (su *suite) bakeFaults() {
	t := su.t
	dep := itest.UniqueID("faults-bake")
	itest.RemoveContainers(t, dep)
	const interval, failures, crashAfter = 2 * time.Second, 2, 3 * time.Second
	rewind(t, "deployment", "create", dep, "--rollback-enabled", "--auto-rollback", "--bake", "3m", "--bake-interval", interval.String(),
		"--bake-failures", "2", "--component", "scheduler=airflow scheduler")
	var d domain.Deployment
	if err := json.Unmarshal([]byte(rewind(t, "deployment", "show", dep, "-o", "json")), &d); err != nil || d.AutoRollback == nil {
		t.Fatalf("deployment show: %v", err)
	}
	rewind(t, "grant", "alice", "--deployment", dep, "--role", "editor")
	rewind(t, "grant", d.AutoRollback.EnabledBy, "--deployment", dep, "--role", "editor")
	rewind(t, "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--as", "alice", "--wait")
	rewind(t, "deploy", dep, "--image", itest.Image(t, "9.1.0-crashloop"), "--as", "alice", "--wait")
	r2 := history(t, dep)[0]
	var res workflows.BakeResult
	if err := su.wait("bake/"+dep, "", &res); err != nil {
		t.Errorf("bake: %v", err)
	}
	lost := 0
	r3 := waitTop(su, dep, 3)
	limit := crashAfter + interval*failures + 5*time.Second
	if res.Outcome != "rolled-back" || r3.CreatedBy != domain.AutomaticRequester || r3.Status != domain.StatusDeployed || r3.RollbackOf != 1 ||
		r2.FinishedAt == nil || r3.CreatedAt.Sub(*r2.FinishedAt) > limit {
		t.Errorf("a crash-looping scheduler must be rolled back within %s: %+v, %+v", limit, res, r3)
		lost++
	}
	su.record("crash-looping scheduler after a deploy (bake)", lost, 0)

	// A bake of a healthy deploy, then a configuration change whose swap
	// waits 6 s while the scheduler is stopped.
	rewind(t, "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--as", "alice", "--wait") // r4, baked
	su.w.Kill()
	su.w = su.startWorker("SwapComponents=before:6s")
	defer func() { su.w.Kill(); su.w = su.startWorker("") }()
	rewind(t, "deployment", "update", dep, "--env", "FAULTS_BAKE=1")
	rewind(t, "deployment", "update", dep, "--apply", "--as", "alice")
	su.waitStarted(workflows.ChangeWorkflowID(dep), "SwapComponents")
	if out, err := exec.Command("docker", "stop", "-t", "1", "rewind-"+dep+"-scheduler").CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v: %s", err, out)
	}
	if err := su.wait(workflows.ChangeWorkflowID(dep), "", nil); err != nil {
		t.Errorf("the configuration change: %v", err)
	}
	time.Sleep(2 * interval)
	dup := 0
	if top := history(t, dep)[0]; top.Number != 4 || top.CreatedBy == domain.AutomaticRequester {
		t.Errorf("a probe during another change's swap rolled back: %+v", top)
		dup++
	}
	desc, err := su.s.Client.DescribeWorkflowExecution(context.Background(), "bake/"+dep, "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		var res workflows.BakeResult
		_ = su.wait("bake/"+dep, "", &res)
		t.Errorf("the bake must go on after another change's swap: %+v, %v", res, err)
		dup++
	}
	su.record("bake probe during a swap (scheduler stopped)", 0, dup)
	_ = su.s.Client.TerminateWorkflow(context.Background(), "bake/"+dep, "", "fault suite: done")
}

// waitTop waits until revision number tops the history and is final.
func waitTop(su *suite, dep string, number int) domain.Revision {
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		revs := history(su.t, dep)
		if len(revs) > 0 && revs[0].Number == number && revs[0].Status != domain.StatusInitialized {
			return revs[0]
		}
		if time.Now().After(deadline) {
			su.t.Errorf("revision %d of %s not final within 2 minutes: %+v", number, dep, revs[:min(len(revs), 1)])
			return domain.Revision{}
		}
	}
}
