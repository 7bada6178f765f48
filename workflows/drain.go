package workflows

import (
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
)

// DrainDeadlineWorkflowName enforces one draining worker's deadline (R11).
const DrainDeadlineWorkflowName = "DrainDeadlineWorkflow"

// DrainDeadline is DrainDeadlineWorkflow's input.
type DrainDeadline struct {
	DeploymentID string    `json:"deploymentId"`
	ContainerID  string    `json:"containerId"`
	Name         string    `json:"name"`
	Deadline     time.Time `json:"deadline"`
}

// DrainWorkflowID names the deadline of one draining container.
func DrainWorkflowID(deploymentID, containerID string) string {
	if len(containerID) > 12 {
		containerID = containerID[:12]
	}
	return "drain/" + deploymentID + "/" + containerID
}

// enforceOptions retry while the host's Engine is away; the container
// keeps draining meanwhile, which is the safe side.
var enforceOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 2 * time.Minute, ScheduleToCloseTimeout: 24 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
}

// DrainDeadlineWorkflow sleeps on a durable timer until a draining worker's
// deadline, then kills it if it is still running. The timer lives in
// Temporal, not in a worker process: a worker restarted while the old
// worker drains does not forget it.
func DrainDeadlineWorkflow(ctx workflow.Context, in DrainDeadline) (string, error) {
	if wait := in.Deadline.Sub(workflow.Now(ctx)); wait > 0 {
		if err := workflow.Sleep(ctx, wait); err != nil {
			return "", err
		}
	}
	var res string
	ctx, err := hostOf(ctx, in.DeploymentID)
	if err != nil {
		return "", err
	}
	err = workflow.ExecuteActivity(onHost(ctx, enforceOptions), hostActs.EnforceDrainDeadline,
		activities.DrainRequest{DeploymentID: in.DeploymentID, ContainerID: in.ContainerID}).Get(ctx, &res)
	return res, err
}

// enforceDrains starts a deadline for each worker a swap left draining, as
// a child that outlives the change (parent close policy ABANDON); it waits
// only until each has started. A retried change finds its children already
// started, which is what it wants.
func enforceDrains(ctx workflow.Context, t *tracker, deploymentID string, rep activities.SwapReport) {
	// A cancelled change must not cancel the deadlines of the workers it
	// left draining: disconnected, and never cancelled.
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	for _, d := range rep.Drained {
		if d.DrainDeadline == nil {
			continue
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            DrainWorkflowID(deploymentID, d.ID),
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			StaticSummary:         "Kill " + d.Name + " if it is still draining at " + d.DrainDeadline.UTC().Format(time.RFC3339),
		})
		err := workflow.ExecuteChildWorkflow(cctx, DrainDeadlineWorkflowName, DrainDeadline{DeploymentID: deploymentID,
			ContainerID: d.ID, Name: d.Name, Deadline: *d.DrainDeadline}).GetChildWorkflowExecution().Get(ctx, nil)
		if err != nil {
			t.logger.Warn("could not start the drain deadline", "container", d.Name, "error", err)
			continue
		}
		t.detail(StepSwap, t.step(StepSwap).Detail+"; "+d.Name+" drains until "+d.DrainDeadline.UTC().Format(time.RFC3339))
	}
}
