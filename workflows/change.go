package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/notify"
)

// applyAndFinish is the part every change shares once its revision is
// recorded: apply the steps, mark the revision DEPLOYED (a rollback also
// restores the DAG deploy setting, R4), or else compensate, mark it FAILED
// with why, and notify how it ended. The commands are the ones deploys and
// rollbacks issued before it was one function, in the same order.
func applyAndFinish(ctx workflow.Context, t *tracker, spec applySpec, rev *domain.Revision, restoreDagDeploy bool) (*ApplyReport, error) {
	out, err := apply(ctx, t, spec, rev)
	if err == nil && out != nil && out.finishDespiteCancel {
		ctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	if err == nil {
		err = t.runStore(ctx, StepFinish, func() error {
			return t.store.run(ctx, acts.FinishRevision, activities.FinishRequest{DeploymentID: rev.DeploymentID, Number: rev.Number,
				Status: domain.StatusDeployed, At: workflow.Now(ctx), RestoreDagDeploy: restoreDagDeploy}).Get(ctx, rev)
		})
	}
	if err != nil {
		why, event := reason(err), notify.Failed
		if note := compensate(ctx, t, spec, out, *rev); note != "" {
			why += " (" + note + ")"
			if compensated(note) {
				event = notify.Compensated
			}
		}
		finishFailed(ctx, t.store, *rev, why)
		notifyChange(ctx, t, event, *rev, why)
		return out, err
	}
	t.revision(*rev)
	notifyChange(ctx, t, notify.Finished, *rev, "")
	return out, nil
}
