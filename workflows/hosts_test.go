package workflows_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/workflows"
)

// queuesOf runs a deploy of d1, moved to host "b" first, and returns the
// task queue each activity type was scheduled on. old replays the run as
// a change recorded before host queues (GetVersion "host-queues" answers
// DefaultVersion, as it does for every recorded history).
func queuesOf(t *testing.T, old bool) map[string]string {
	t.Helper()
	f := newFixture(t)
	ctx := context.Background()
	d, err := f.store.GetDeployment(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	host := "b"
	if err := (action.DeploymentSettings{Host: &host}).Apply(&d); err != nil {
		t.Fatal(err)
	}
	if err := f.store.UpdateDeploymentSettings(ctx, d); err != nil {
		t.Fatal(err)
	}
	env := f.env()
	if old {
		env.OnGetVersion("host-queues", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	}
	var mu sync.Mutex
	queues := map[string]string{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		mu.Lock()
		defer mu.Unlock()
		queues[info.ActivityType.Name] = info.TaskQueue
	})
	// Since issue 31 a deploy records and finishes its revision with local
	// activities: on the worker of the workflow's own (shared) queue.
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		mu.Lock()
		defer mu.Unlock()
		queues[info.ActivityType.Name] = info.TaskQueue
	})
	env.ExecuteWorkflow(workflows.DeployWorkflowName, []byte(`{"deploymentId":"d1","imageRef":"127.0.0.1:5000/airflow:9.1.0","description":"first","requestedBy":"alice","type":"IMAGE_ONLY"}`))
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("deploy: completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	return queues
}

// A new change routes every host activity to the deployment's host queue
// (<queue>@b, the host read from the store by the plan) and keeps the
// store activities on the shared queue.
func TestHostActivitiesGoToTheDeploymentsHostQueue(t *testing.T) {
	q := queuesOf(t, false)
	shared := q["ValidateDeploy"]
	if shared == "" || strings.Contains(shared, "@") {
		t.Fatalf("ValidateDeploy ran on %q, want the shared queue: %v", shared, q)
	}
	for _, name := range []string{"PullImage", "Preflight", "SwapComponents", "Verify"} {
		if q[name] != shared+"@b" {
			t.Errorf("%s ran on %q, want %q", name, q[name], shared+"@b")
		}
	}
	for _, name := range []string{"RecordRevision", "FinishRevision"} {
		if q[name] != shared {
			t.Errorf("%s ran on %q, want the shared queue %q", name, q[name], shared)
		}
	}
}

// A change recorded before host queues keeps scheduling its host
// activities on the shared queue when it replays, where the workers of the
// single host still serve them (app.Worker registers them there for host
// "local").
func TestChangesBeforeHostQueuesStayOnTheSharedQueue(t *testing.T) {
	q := queuesOf(t, true)
	shared := q["ValidateDeploy"]
	for _, name := range []string{"PullImage", "Preflight", "SwapComponents", "Verify"} {
		if q[name] != shared {
			t.Errorf("%s ran on %q, want the shared queue %q", name, q[name], shared)
		}
	}
}
