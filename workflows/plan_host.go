package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
)

// Rollbacks recorded before issue 27 validated in one store activity that
// read its own worker's Engine; workflow.GetVersion(planOnHostChange)
// keeps them so when they replay. Since, the Docker half of a plan runs on
// the deployment's host queue.
const planOnHostChange = "rollback-plan-on-host"

// planHostBound bounds, in wall-clock time, the plan's question to the
// deployment's host: waiting for a worker of that host (visibly, as
// `rewind watch` shows every host step waiting) and retrying a registry
// that does not answer. Unlike the steps after it (whose bounds leave out
// the wait for a host, docs/operations.md), it counts the wait: nothing is
// recorded yet, so a confirmed rollback holding change/<deployment> gives
// up, having changed nothing, rather than wait without end. A schedule-to-
// close timeout, enforced by the server, since nothing runs while it waits.
const planHostBound = 15 * time.Minute

var planHostOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 5 * time.Minute, HeartbeatTimeout: 20 * time.Second, ScheduleToCloseTimeout: planHostBound,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
}

// validateOnHost plans a rollback in three steps: every rule on the store
// (ValidateRollback, shared queue); then, if the image changes, what the
// deployment's own Engine has (InspectRollback on its host queue: the
// target image by digest, cached or pullable, and the running workers);
// then the plan's digest and its confirmation (ConfirmRollbackPlan). The
// digest so depends only on the store and the deployment's host, never on
// which worker took which step, so a dry run and the confirmed run agree.
func validateOnHost(ctx workflow.Context, store storeSteps, c activities.RollbackCheck, plan *activities.RollbackPlan) error {
	c.PlanOnHost = true
	if err := store.run(ctx, acts.ValidateRollback, c).Get(ctx, plan); err != nil {
		return err
	}
	if plan.HostCheck == nil {
		return nil // nothing to ask a host: digested and confirmed already
	}
	host := plan.Deployment.Host
	o := planHostOptions
	o.TaskQueue = hostQueue(withHost(ctx, host)) // "" (histories before host queues): the workflow's own
	var facts activities.RollbackHostFacts
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, o), hostActs.InspectRollback, *plan.HostCheck).Get(ctx, &facts); err != nil {
		return hostBound(host, err)
	}
	// A fresh value: decoding into plan would keep its HostCheck (omitted
	// from the answer, not cleared).
	var confirmed activities.RollbackPlan
	err := store.run(ctx, acts.ConfirmRollbackPlan, activities.ConfirmRollback{Check: c, Plan: *plan, Facts: &facts}).Get(ctx, &confirmed)
	*plan = confirmed
	return err
}

// hostBound turns the bound firing into BoundExceeded, as every step's
// bound is reported (activities/bound.go), saying which host did not answer
// and what it last said; nothing has changed yet. The
// retry policy sets no attempt limit, so a host step that ends in anything
// but a refusal (a non-retryable application error) or a cancellation
// ended at the bound: a schedule-to-close timeout (no attempt started, or
// one still running) or the last attempt's failure (the next would have
// started past the bound).
func hostBound(host string, err error) error {
	var ae *temporal.ActivityError
	if !errors.As(err, &ae) {
		return err
	}
	last := errors.Unwrap(ae)
	var refusal *temporal.ApplicationError
	var canceled *temporal.CanceledError
	if (errors.As(last, &refusal) && refusal.NonRetryable()) || errors.As(last, &canceled) {
		return err
	}
	if host == "" {
		host = domain.DefaultHost
	}
	var te *temporal.TimeoutError
	if errors.As(last, &te) {
		last = te.Unwrap()
	}
	why := "no worker of host " + host + " answered (see `rewind host list`)"
	if last != nil {
		why = "host " + host + " last answered: " + last.Error()
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the rollback's plan could not be checked on host %s within %s of asking (waiting for its worker included): %s; nothing changed",
		host, planHostBound, why), "BoundExceeded", err)
}
