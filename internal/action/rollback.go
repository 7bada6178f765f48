package action

import (
	"context"
	"time"

	"github.com/gofrs/uuid/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// Rollback starts a RollbackWorkflow: a dry run under its own plan id
// (it never holds the deployment's change id), or the real rollback under
// the change id. The requester's permission for the scope (R10) is checked
// first, before anything starts or anything about the deployment's
// settings is disclosed; the workflow decides every rule again on current
// data.
type Rollback struct {
	Config   *config.Config
	Store    *store.Store
	Temporal client.Client
	Input    workflows.RollbackInput
}

func (a *Rollback) Run(ctx context.Context) (client.WorkflowRun, error) {
	in := a.Input
	if err := in.Validate(); err != nil {
		return nil, err
	}
	_, err := permitted(ctx, a.Store, in.RequestedBy, in.DeploymentID,
		func(p policy.Permissions) error { return policy.CheckMayRollBack(in.RequestedBy, p, in.DeploymentID) },
		func(p policy.Permissions, d domain.Deployment) error {
			return policy.CheckRollbackScope(in.RequestedBy, p, d, in.Scope)
		})
	if err != nil {
		return nil, err
	}
	if !in.DryRun {
		return StartChange(ctx, a.Config, a.Temporal, in.DeploymentID, workflows.RollbackWorkflowName, workflows.KindRollback,
			in.RequestedBy, workflows.RollbackSummary(in), in)
	}
	return StartPlan(ctx, a.Config, a.Temporal, in.DeploymentID, workflows.RollbackWorkflowName, workflows.KindRollback, in.RequestedBy,
		workflows.RollbackSummary(in), in)
}

// StartPlan starts a dry run under its own plan/<deployment>/<uuid> id: a
// plan changes nothing, so it never holds the change id (R15), and a plan
// nobody reads ends on its own. The requester is signed like a change's.
func StartPlan(ctx context.Context, cfg *config.Config, c client.Client, deploymentID, workflowType, kind, requestedBy, summary string, input any) (client.WorkflowRun, error) {
	nonce, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	id := workflows.PlanWorkflowID(deploymentID, nonce.String())
	signedIn, err := signed(cfg, input, workflowType, requestedBy, deploymentID, id)
	if err != nil {
		return nil, err
	}
	return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: cfg.TaskQueue,
		// rewind's own clients never start a plan id twice. (The policy is
		// the new start's, so an attacker with Temporal access picks their
		// own: what stops them is the workers, which refuse a real change
		// under a plan id and a signature used once already, R22.)
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionTimeout: 10 * time.Minute,
		StaticSummary:            clip("Plan: "+summary, 200),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrDeployment.ValueSet(deploymentID),
			workflows.AttrKind.ValueSet(kind),
			workflows.AttrRequestedBy.ValueSet(requestedBy)),
	}, workflowType, signedIn)
}

// Plan runs a dry run and waits for its plan (bounded by timeout: a plan
// that no worker picks up is ended, which is safe since it changes
// nothing).
func (a *Rollback) Plan(ctx context.Context, timeout time.Duration) (workflows.RollbackResult, client.WorkflowRun, error) {
	in := a.Input
	in.DryRun = true
	dry := &Rollback{Config: a.Config, Store: a.Store, Temporal: a.Temporal, Input: in}
	run, err := dry.Run(ctx)
	if err != nil {
		return workflows.RollbackResult{}, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var res workflows.RollbackResult
	if err := run.Get(wctx, &res); err != nil {
		if wctx.Err() != nil && ctx.Err() == nil {
			tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer tcancel()
			// The plan's Docker checks run on the deployment's host queue
			// (issue 27): say which host's worker was missing, if that is
			// what it waited for.
			host := ""
			if desc, err := a.Temporal.DescribeWorkflowExecution(tctx, run.GetID(), run.GetRunID()); err == nil {
				for _, pa := range desc.GetPendingActivities() {
					if h := WaitingForHost(pa, time.Now()); h != "" {
						host = h
					}
				}
			}
			a.Temporal.TerminateWorkflow(tctx, run.GetID(), run.GetRunID(), "no rewind worker ran the rollback plan in time")
			return res, run, &NoWorkerError{What: "the rollback plan", Within: timeout, TaskQueue: a.Config.TaskQueue, Host: host}
		}
		return res, run, err
	}
	return res, run, nil
}

// Confirmed is the rollback to start once its plan was shown and
// confirmed: it carries the plan's digest and the revision it starts from
// (R15), so a plan that changed in between is refused with PlanChanged.
func Confirmed(in workflows.RollbackInput, plan workflows.RollbackResult) workflows.RollbackInput {
	in.DryRun = false
	in.ExpectedCurrentRevision, in.PlanDigest = plan.Plan.Current.Number, plan.Plan.Digest
	return in
}

// NoWorkerError says no worker ran something in time; nothing changed.
// Host names the host whose worker it waited for, when it was one.
type NoWorkerError struct {
	What      string
	Within    time.Duration
	TaskQueue string
	Host      string
}

func (e *NoWorkerError) Error() string {
	if e.Host != "" {
		return "no rewind worker of host " + e.Host + " ran " + e.What + " within " + e.Within.String() +
			" (is rewind-worker running with REWIND_HOST=" + e.Host + "? see `rewind host list`); nothing changed"
	}
	return "no rewind worker ran " + e.What + " within " + e.Within.String() + " (is rewind-worker running on task queue " + e.TaskQueue + "?); nothing changed"
}
