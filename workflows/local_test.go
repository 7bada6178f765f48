package workflows_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/workflows"
)

// Issue 31: a rollback runs its short store steps as local activities on
// the workflow's own worker (the plan's rules and confirmation, the
// revision's record and its end), and every Docker step as an activity on
// the host's queue, in the same order as before.
func TestRollbackRunsItsStoreStepsAsLocalActivities(t *testing.T) {
	f := threeDeploys(t)
	env := f.env()
	steps := recordSteps(env)
	env.ExecuteWorkflow(workflows.RollbackWorkflowName, json.RawMessage(rb(2, "")))
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("rollback: %v", env.GetWorkflowError())
	}
	local, remote := steps.lists()
	if got, want := strings.Join(local, ","), "ValidateRollback,ConfirmRollbackPlan,RecordRevision,FinishRevision"; got != want {
		t.Fatalf("local activities:\n got %s\nwant %s", got, want)
	}
	if got, want := strings.Join(remote, ","), "InspectRollback,PullImage,UnpackBundle,Preflight,SwapBundle,SwapComponents,Verify"; got != want {
		t.Fatalf("activities:\n got %s\nwant %s", got, want)
	}
	if r := f.history(t)[0]; r.Number != 4 || r.Status != domain.StatusDeployed {
		t.Fatalf("r4: %+v", r)
	}
}

// A rollback that fails after its record marks its revision FAILED with a
// local activity too, and compensates as before.
func TestFailedRollbackFinishesItsRevisionLocally(t *testing.T) {
	f := threeDeploys(t)
	f.docker.failAt = "Verify"
	env := f.env()
	steps := recordSteps(env)
	env.ExecuteWorkflow(workflows.RollbackWorkflowName, json.RawMessage(rb(2, "")))
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() == nil {
		t.Fatal("the rollback must fail")
	}
	local, _ := steps.lists()
	if got := strings.Join(local, ","); !strings.HasSuffix(got, "RecordRevision,FinishRevision") {
		t.Fatalf("local activities: %s", got)
	}
	r := f.history(t)[0]
	if r.Number != 4 || r.Status != domain.StatusFailed || !strings.Contains(r.FailureReason, "components put back on revision 3") {
		t.Fatalf("r4: %s %q", r.Status, r.FailureReason)
	}
}

// A deploy records and finishes its revision with local activities; its
// validation, which may read a large bundle and the Engine, stays an
// activity.
func TestDeployRecordsAndFinishesLocally(t *testing.T) {
	f := newFixture(t)
	env := f.env()
	steps := recordSteps(env)
	env.ExecuteWorkflow(workflows.DeployWorkflowName, json.RawMessage(`{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","type":"IMAGE_ONLY"}`))
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("deploy: %v", env.GetWorkflowError())
	}
	local, remote := steps.lists()
	if got, want := strings.Join(local, ","), "RecordRevision,FinishRevision"; got != want {
		t.Fatalf("local activities:\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(strings.Join(remote, ","), "ValidateDeploy") || strings.Contains(strings.Join(remote, ","), "Revision") {
		t.Fatalf("activities: %v", remote)
	}
}

// stepLog is what a change ran, in order: its local activities, and its
// activities but the bookkeeping ones (the export of log events and the
// notifications' own), which are not the change's steps.
type stepLog struct {
	mu            sync.Mutex
	local, remote []string
}

func recordSteps(env *testsuite.TestWorkflowEnvironment) *stepLog {
	l := &stepLog{}
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.local = append(l.local, info.ActivityType.Name)
	})
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if n := info.ActivityType.Name; n != "ExportEvents" && n != "NotifyTargets" && n != "Deliver" {
			l.remote = append(l.remote, n)
		}
	})
	return l
}

// lists are the steps so far.
func (l *stepLog) lists() (local, remote []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.local...), append([]string(nil), l.remote...)
}
