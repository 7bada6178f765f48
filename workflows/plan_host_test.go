package workflows_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/workflows"
)

// onHostB is d1 on host b with two deploys of different images, so a
// rollback to 1 changes the image and asks the host.
func onHostB(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	ctx := context.Background()
	d, _ := f.store.GetDeployment(ctx, "d1")
	host := "b"
	if err := (action.DeploymentSettings{Host: &host}).Apply(&d); err != nil {
		t.Fatal(err)
	}
	d.RollbackEnabled = true
	if err := f.store.UpdateDeploymentSettings(ctx, d); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"reg:5000/airflow:9.2.0", "reg:5000/airflow:9.1.0"} {
		if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"`+ref+`","requestedBy":"alice","type":"IMAGE_ONLY"}`); err != nil {
			t.Fatal(err)
		}
	}
	f.docker.calls = nil
	return f
}

// rollbackQueues runs a rollback and returns the queue of each activity type.
func (f *fixture) rollbackQueues(t *testing.T, input string, old bool) (*workflows.RollbackResult, map[string]string, error) {
	t.Helper()
	env := f.env()
	if old {
		env.OnGetVersion("rollback-plan-on-host", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	}
	var mu sync.Mutex
	queues := map[string]string{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		mu.Lock()
		defer mu.Unlock()
		queues[info.ActivityType.Name] = info.TaskQueue
	})
	// Since issue 31 the store steps run as local activities: on the
	// worker of the workflow's own (shared) queue.
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		mu.Lock()
		defer mu.Unlock()
		queues[info.ActivityType.Name] = info.TaskQueue
	})
	env.ExecuteWorkflow(workflows.RollbackWorkflowName, []byte(input))
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var res workflows.RollbackResult
	err := env.GetWorkflowError()
	if err == nil {
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
	}
	return &res, queues, err
}

// Issue 27: the Docker half of a rollback's plan runs on the deployment's
// host queue, the rules and the digest on the shared queue, and the
// workers to drain come from the host, so the confirmed run agrees with
// its dry run.
func TestRollbackPlanAsksTheDeploymentsHost(t *testing.T) {
	f := onHostB(t)
	f.docker.workers = []string{"rewind-d1-worker"}
	plan, q, err := f.rollbackQueues(t, rb(1, `,"dryRun":true`), false)
	if err != nil {
		t.Fatal(err)
	}
	shared := q["ValidateRollback"]
	if shared == "" || strings.Contains(shared, "@") || q["ConfirmRollbackPlan"] != shared {
		t.Fatalf("the rules and the digest belong on the shared queue: %v", q)
	}
	if q["InspectRollback"] != shared+"@b" {
		t.Fatalf("InspectRollback ran on %q, want %q", q["InspectRollback"], shared+"@b")
	}
	p := plan.Plan
	if fmt.Sprint(p.WorkersDrained) != "[rewind-d1-worker]" || len(p.WorkersKilled) != 0 || p.HostCheck != nil ||
		!strings.HasPrefix(p.Digest, "sha256:") || !strings.Contains(p.TargetImageOn, "host local") {
		t.Fatalf("the plan must list the host's workers and be digested: %+v", p)
	}
	confirmed := fmt.Sprintf(`,"expectedCurrentRevision":%d,"planDigest":%q`, p.Current.Number, p.Digest)
	res, _, err := f.rollbackQueues(t, rb(1, confirmed), false)
	if err != nil || res.Revision == nil || res.Revision.Number != 3 {
		t.Fatalf("the confirmed plan must run: %+v %v", res.Revision, err)
	}
	// Other workers on the host now: the plan changed, and says so.
	f.docker.workers = []string{"rewind-d1-worker", "rewind-d1-worker-2"}
	if _, _, err := f.rollbackQueues(t, rb(2, confirmed), false); errType(err) != "PlanChanged" {
		t.Fatalf("a plan whose workers changed must be refused PlanChanged: %v", err)
	}
}

// A rollback recorded before plans ran on the host validates in one store
// activity when it replays, asking no host.
func TestRollbacksBeforePlanOnHostValidateInOneActivity(t *testing.T) {
	f := onHostB(t)
	_, q, err := f.rollbackQueues(t, rb(1, `,"dryRun":true`), true)
	if err != nil {
		t.Fatal(err)
	}
	if q["ValidateRollback"] == "" || q["InspectRollback"] != "" || q["ConfirmRollbackPlan"] != "" {
		t.Fatalf("an old rollback must validate in ValidateRollback alone: %v", q)
	}
}

// The host step is bounded in wall-clock time: a host that never answers
// ends the rollback BoundExceeded, with its last answer, nothing recorded.
func TestRollbackPlanOnHostIsBounded(t *testing.T) {
	f := onHostB(t)
	f.docker.noAnswer = true
	before := len(f.history(t))
	_, _, err := f.rollbackQueues(t, rb(1, ""), false)
	if errType(err) != "BoundExceeded" || !strings.Contains(err.Error(), "host b") || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("want BoundExceeded naming host b and its last answer, got %v", err)
	}
	if len(f.history(t)) != before {
		t.Fatal("nothing may be recorded")
	}
}
