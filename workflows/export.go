package workflows

import (
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/internal/eslog"
)

// ExportEventsWorkflowName exports one change's log events (R13).
const ExportEventsWorkflowName = "ExportEventsWorkflow"

// exportOptions retry for days with backoff: Elasticsearch being down for
// hours loses nothing, and every attempt shows in the Temporal UI.
var exportOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    2 * time.Minute,
	ScheduleToCloseTimeout: 7 * 24 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    2 * time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    5 * time.Minute,
	},
}

// ExportEventsWorkflow sends a finished change's events to Elasticsearch
// (or the NDJSON file) and returns how many it exported. Documents carry
// ids derived from workflow id, run id and sequence number and are created,
// never overwritten, so retries never duplicate them.
func ExportEventsWorkflow(ctx workflow.Context, events []eslog.Event) (int, error) {
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, exportOptions), acts.ExportEvents, events).Get(ctx, nil)
	return len(events), err
}

// ExportWorkflowID names the export of one run of a change.
func ExportWorkflowID(workflowID, runID string) string { return "export/" + workflowID + "/" + runID }

// exportEvents starts the export as a child that outlives this workflow
// (parent close policy ABANDON) and waits only until it and every other
// child this run started have started (settle): the change's result
// is never held back by Elasticsearch. It is the last thing a run does.
func exportEvents(ctx workflow.Context, t *tracker) {
	defer t.settle(ctx)
	// Histories recorded before export existed have no child here.
	if workflow.GetVersion(ctx, "export-events", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	// Disconnected, and never cancelled: cancelling the context a child was
	// started with asks the child to cancel, whatever its close policy, and
	// an export retrying through an Elasticsearch outage would stop.
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	info := workflow.GetInfo(ctx)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        ExportWorkflowID(info.WorkflowExecution.ID, info.WorkflowExecution.RunID),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     "Export the log events of " + info.WorkflowExecution.ID,
	})
	t.startChild(ctx, workflow.ExecuteChildWorkflow(cctx, ExportEventsWorkflowName, t.events), "could not start the log export")
}
