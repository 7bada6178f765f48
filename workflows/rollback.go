package workflows

import (
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/internal/notify"
)

// RollbackResult is what RollbackWorkflow returns: the new revision (none
// on a dry run) and the report of what changed, from → to.
type RollbackResult struct {
	DryRun   bool                    `json:"dryRun"`
	Revision *domain.Revision        `json:"revision,omitempty"`
	Plan     activities.RollbackPlan `json:"plan"`
	Report   *ApplyReport            `json:"report,omitempty"`
	Progress Progress                `json:"progress"`
}

const StepPlan = "plan"

func rollbackSteps() []string {
	return append(append([]string{StepValidate, StepPlan, StepRecord}, applySteps...), StepFinish)
}

// RollbackWorkflow rolls a deployment back to an earlier revision by adding
// a new one (R3), like `git revert`: validate every rule, plan from → to,
// then — unless it is a dry run — record revision N+1, pull the target's
// image by its recorded digest, run the metadata downgrade on a Runtime
// downgrade, swap the DAG bundle and the components (draining or killing
// workers, R11), restore the DAG deploy setting (R4) and mark it DEPLOYED.
// A failure after the first change puts the previous bundle and components
// back and marks the revision FAILED.
func RollbackWorkflow(ctx workflow.Context, raw json.RawMessage) (*RollbackResult, error) {
	r := &rollback{}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	return r.run(ctx, raw)
}

type rollback struct {
	progress *tracker
	logger   log.Logger
}

func (r *rollback) setup(ctx workflow.Context) error {
	var err error
	r.progress, err = newTracker(ctx, KindRollback, rollbackSteps()...)
	info := workflow.GetInfo(ctx)
	r.logger = log.With(workflow.GetLogger(ctx), "workflowId", info.WorkflowExecution.ID, "runId", info.WorkflowExecution.RunID)
	return err
}

func (r *rollback) run(ctx workflow.Context, raw json.RawMessage) (res *RollbackResult, err error) {
	defer func() {
		r.progress.finish(err)
		exportEvents(ctx, r.progress)
	}()
	sctx := workflow.WithActivityOptions(ctx, storeOptions)
	r.progress.store = localStoreSteps(ctx)
	var plan activities.RollbackPlan
	// Parsed before the step starts so that every event of a well-formed
	// request names its deployment and requester.
	in, perr := ParseRollbackInput(raw)
	if perr == nil {
		r.progress.about(in.DeploymentID, in.RequestedBy)
	}
	err = r.progress.run(ctx, StepValidate, func() error {
		if perr != nil {
			return asApplicationError(perr)
		}
		r.logger = log.With(r.logger, "deployment", in.DeploymentID, "requestedBy", in.RequestedBy, "target", in.Revision)
		if uerr := workflow.UpsertTypedSearchAttributes(ctx, AttrDeployment.ValueSet(in.DeploymentID), AttrKind.ValueSet(KindRollback),
			AttrRequestedBy.ValueSet(in.RequestedBy)); uerr != nil {
			return uerr
		}
		check := activities.RollbackCheck{DeploymentID: in.DeploymentID,
			Revision: in.Revision, RequestedBy: in.RequestedBy, Scope: in.Scope, At: workflow.Now(ctx),
			ExpectedCurrentRevision: in.ExpectedCurrentRevision, PlanDigest: in.PlanDigest, Signature: in.RequesterSignature, Diff: in.Diff,
			InputDigest: in.Digest(), DryRun: in.DryRun,
			AllowUnknownVersion: in.AllowUnknownVersion}
		if workflow.GetVersion(ctx, planOnHostChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return workflow.ExecuteActivity(sctx, acts.ValidateRollback, check).Get(ctx, &plan)
		}
		return validateOnHost(ctx, r.progress.store, check, &plan)
	})
	if err != nil {
		r.logger.Warn("rollback refused", "error", err)
		return nil, err
	}
	if err := recordVerified(ctx, r.progress, plan.RequestedByVerified); err != nil {
		return nil, err
	}
	r.progress.step(StepPlan).State = StepDone
	r.progress.detail(StepPlan, planSummary(plan))
	r.progress.emit(StepPlan, eslog.LevelInfo, "plan: "+planSummary(plan), nil)
	r.logger.Info("rollback planned", "plan", planSummary(plan), "dryRun", in.DryRun)
	if in.DryRun {
		for _, s := range rollbackSteps()[2:] {
			r.progress.skip(s, "dry run")
		}
		r.progress.finish(nil)
		return &RollbackResult{DryRun: true, Plan: plan, Progress: r.progress.p}, nil
	}

	info := workflow.GetInfo(ctx)
	rev := activities.RollbackRevision(plan, workflow.Now(ctx), in.RequestedBy, in.Description, info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
	err = r.progress.runStore(ctx, StepRecord, func() error {
		return r.progress.store.run(ctx, acts.RecordRevision, rev).Get(ctx, &rev)
	})
	if err != nil {
		return nil, err
	}
	r.progress.revision(rev)
	r.progress.detail(StepRecord, fmt.Sprintf("revision %d, rollback to %d", rev.Number, plan.Target.Number))
	notifyChange(ctx, r.progress, notify.Started, rev, rev.Description)
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrRevision.ValueSet(int64(rev.Number))); err != nil {
		return nil, err
	}

	cur := plan.Current
	spec := applySpec{deployment: plan.Deployment, prev: &cur, images: plan.ImageChanges, bundles: plan.BundleChanges,
		byDigest: true, downgrade: plan.Downgrade}
	out, err := applyAndFinish(ctx, r.progress, spec, &rev, true)
	if err != nil {
		r.logger.Warn("rollback failed", "revision", rev.Number, "error", err)
		return nil, err
	}
	if out.Swap != nil {
		plan.WorkersDrained, plan.WorkersKilled = refNames(out.Swap.Drained), refNames(out.Swap.Killed)
	}
	r.logger.Info("rolled back", "revision", rev.Number, "target", plan.Target.Number, "downgrade", plan.Downgrade,
		"workersKilled", plan.WorkersKilled, "workersDrained", plan.WorkersDrained)
	r.progress.finish(nil)
	return &RollbackResult{Revision: &rev, Plan: plan, Report: out, Progress: r.progress.p}, nil
}

// RollbackSummary is the one line the Temporal UI shows for a rollback.
func RollbackSummary(in RollbackInput) string {
	return fmt.Sprintf("Roll back %s to revision %d — %s", in.DeploymentID, in.Revision, in.Description)
}

func planSummary(p activities.RollbackPlan) string { return activities.PlanSummary(p) }

func refNames(cs []activities.ContainerRef) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
