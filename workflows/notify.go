package workflows

import (
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/notify"
)

// NotifyWorkflowName delivers one notification to every webhook that wants
// it (issue 16).
const NotifyWorkflowName = "NotifyWorkflow"

// deliverOptions retry a receiver that is down for a day, with backoff:
// it gets every notification once it is back.
var deliverOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 24 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute},
}

// NotifyWorkflow sends n to the webhooks that want its event, in parallel,
// and returns how many took it.
func NotifyWorkflow(ctx workflow.Context, n notify.Notification) (int, error) {
	var ids []string
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeOptions), acts.NotifyTargets,
		activities.TargetsRequest{DeploymentID: n.DeploymentID, Event: n.Event}).Get(ctx, &ids); err != nil {
		return 0, err
	}
	dctx := workflow.WithActivityOptions(ctx, deliverOptions)
	futures := make([]workflow.Future, len(ids))
	for i, id := range ids {
		futures[i] = workflow.ExecuteActivity(dctx, acts.Deliver, activities.DeliverRequest{WebhookID: id, Notification: n})
	}
	delivered := 0
	for i, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("notification not delivered", "webhook", ids[i], "event", n.Event, "error", err)
			continue
		}
		delivered++
	}
	return delivered, nil
}

// NotifyWorkflowID names one event of one run of a change.
func NotifyWorkflowID(workflowID, runID, event string) string {
	return "notify/" + workflowID + "/" + runID + "/" + event
}

// notifyChange starts the delivery of an event of this change as a child
// that outlives it (parent close policy ABANDON), never waiting for more
// than its start (startChild): a receiver that is down never holds a
// change back.
// Histories recorded before notifications replay without them.
func notifyChange(ctx workflow.Context, t *tracker, event string, rev domain.Revision, reason string) {
	if t.notifies == nil {
		v := workflow.GetVersion(ctx, "notify", workflow.DefaultVersion, 1) != workflow.DefaultVersion
		t.notifies = &v
	}
	if !*t.notifies {
		return
	}
	// Disconnected, and never cancelled: cancelling the context a child was
	// started with asks the child to cancel, whatever its close policy.
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	info := workflow.GetInfo(ctx)
	n := notify.Notification{Event: event, Kind: t.p.Kind, DeploymentID: rev.DeploymentID, Revision: rev.Number, RollbackOf: rev.RollbackOf,
		RequestedBy: rev.CreatedBy, Verified: rev.RequestedByVerified, ImageRef: rev.ImageRef, Reason: clipReason(reason),
		WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, At: workflow.Now(ctx)}
	n.Text = notificationText(n)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        NotifyWorkflowID(n.WorkflowID, n.RunID, event),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     "Notify: " + n.Text,
	})
	t.startChild(ctx, workflow.ExecuteChildWorkflow(cctx, NotifyWorkflowName, n), "could not start the notification", "event", event)
}

func notificationText(n notify.Notification) string {
	what := fmt.Sprintf("%s of %s", n.Kind, n.DeploymentID)
	if n.RollbackOf > 0 {
		what = fmt.Sprintf("rollback of %s to revision %d", n.DeploymentID, n.RollbackOf)
	}
	by := n.RequestedBy
	if !n.Verified {
		by += " (claimed)"
	}
	s := fmt.Sprintf("rewind: %s %s (revision %d, by %s)", what, n.Event, n.Revision, by)
	if n.Reason != "" {
		s += ": " + n.Reason
	}
	return s
}

// compensated says whether a compensation note means the deployment was
// put back as it was (as opposed to left as the failure left it).
func compensated(note string) bool {
	for _, bad := range []string{"not compensated", "could not", "compensation failed"} {
		if strings.Contains(note, bad) {
			return false
		}
	}
	return note != ""
}
