package activities

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
)

// exportAbandoned exports the log events of a change whose workflow ended
// without finishing (terminated, timed out) when its revision is released
// (R13): it never reached its own export. Its events are in its history, as
// the inputs of the export activities its steps started; they are sent
// again with the same ids (exactly once), with one more saying how the run
// ended, by a durable ExportEventsWorkflow, so Elasticsearch being down
// loses nothing. Best effort: a failure is logged, never blocks the change
// that released the revision.
func (a *StoreActivities) exportAbandoned(ctx context.Context, h domain.Revision, releasedBy string, at time.Time) {
	if a.Temporal == nil {
		return
	}
	log := activity.GetLogger(ctx)
	dc := a.DataConverter
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	seen := map[int]eslog.Event{}
	last := eslog.Event{WorkflowID: h.WorkflowID, RunID: h.RunID, Deployment: h.DeploymentID, Revision: h.Number, RequestedBy: h.CreatedBy}
	it := a.Temporal.GetWorkflowHistory(ctx, h.WorkflowID, h.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			log.Warn("could not read the abandoned change's history for its log events", "workflowId", h.WorkflowID, "runId", h.RunID, "error", err)
			break
		}
		attrs := e.GetActivityTaskScheduledEventAttributes()
		if attrs == nil || attrs.GetActivityType().GetName() != "ExportEvents" {
			continue
		}
		var batch []eslog.Event
		if err := dc.FromPayloads(attrs.GetInput(), &batch); err != nil {
			continue
		}
		for _, ev := range batch {
			seen[ev.Seq] = ev
			if ev.Seq > last.Seq {
				last = ev
			}
		}
	}
	events := make([]eslog.Event, 0, len(seen)+1)
	for seq := 1; seq <= last.Seq; seq++ {
		if ev, ok := seen[seq]; ok {
			events = append(events, ev)
		}
	}
	if last.Kind == "" {
		last.Kind = eslog.KindDeploy
		if h.RollbackOf > 0 {
			last.Kind = eslog.KindRollback
		}
	}
	end := last
	end.Seq, end.Timestamp, end.Step, end.Level, end.Error = last.Seq+1, at, "finish", eslog.LevelError, ""
	end.Message = "abandoned: the workflow ended without finishing its change (terminated or timed out); revision released by " + releasedBy
	events = append(events, end)
	_, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "export/" + h.WorkflowID + "/" + h.RunID, TaskQueue: a.Config.TaskQueue,
		// Started once: running (USE_EXISTING) or already finished
		// (REJECT_DUPLICATE: the change's own export ran) is left alone.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:            "Export the log events of abandoned " + h.WorkflowID,
	}, "ExportEventsWorkflow", events)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return
	}
	if err != nil {
		log.Warn("could not start the export of the abandoned change's log events", "workflowId", h.WorkflowID, "runId", h.RunID, "error", err)
		return
	}
	log.Info("exporting the abandoned change's log events", "workflowId", h.WorkflowID, "runId", h.RunID, "events", len(events))
}
