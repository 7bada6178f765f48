package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/internal/domain"
)

// Host queues (issue 13): a deployment's host activities run on the task
// queue <queue>@<host>, which only that host's worker polls. Changes
// recorded before host queues existed ran them on the workflow's own queue;
// workflow.GetVersion("host-queues") keeps them there when they replay.
const hostQueuesChange = "host-queues"

type hostQueueKey struct{}

type waitForCancelKey struct{}

// waitingForCancellation makes every host step started under ctx wait, when
// the change is cancelled, until the step has really stopped (its Docker
// calls returned), so compensation never runs beside it (issue 27).
// Changes recorded before waited for nothing and replay that way.
func waitingForCancellation(ctx workflow.Context) workflow.Context {
	return workflow.WithValue(ctx, waitForCancelKey{}, true)
}

// withHost decides, once per run, where the deployment's host activities
// go, and keeps the answer in the returned context for onHost. host comes
// from the store, through an activity (a plan, or DeploymentHost): never
// from the workflow's input.
func withHost(ctx workflow.Context, host string) workflow.Context {
	if workflow.GetVersion(ctx, hostQueuesChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return ctx
	}
	if host == "" {
		host = domain.DefaultHost
	}
	return workflow.WithValue(ctx, hostQueueKey{}, domain.HostQueue(workflow.GetInfo(ctx).TaskQueueName, host))
}

// hostQueue is the host queue withHost chose, "" for the workflow's own.
func hostQueue(ctx workflow.Context) string {
	q, _ := ctx.Value(hostQueueKey{}).(string)
	return q
}

// onHost gives a host activity its options: on a host queue, waiting for
// that host's worker has no deadline (no schedule-to-start nor
// schedule-to-close timeout: a down host is waited for, visibly, in
// `rewind watch`), while failures on a host that answers stay bounded by
// attempts, about as many as the schedule-to-close timeout allowed.
func onHost(ctx workflow.Context, o workflow.ActivityOptions) workflow.Context {
	if w, _ := ctx.Value(waitForCancelKey{}).(bool); w {
		o.WaitForCancellation = true
	}
	q := hostQueue(ctx)
	if q == "" {
		return workflow.WithActivityOptions(ctx, o)
	}
	o.TaskQueue = q
	if o.ScheduleToCloseTimeout > 0 {
		rp := temporal.RetryPolicy{}
		if o.RetryPolicy != nil {
			rp = *o.RetryPolicy
		}
		if rp.MaximumAttempts == 0 {
			rp.MaximumAttempts = attemptsWithin(o.ScheduleToCloseTimeout, rp)
		}
		o.RetryPolicy = &rp
		o.ScheduleToCloseTimeout = 0
	}
	return workflow.WithActivityOptions(ctx, o)
}

// attemptsWithin is how many attempts that fail at once fit in d with the
// policy's backoff: the bound a schedule-to-close timeout used to give.
func attemptsWithin(d time.Duration, rp temporal.RetryPolicy) int32 {
	wait, coef, max := rp.InitialInterval, rp.BackoffCoefficient, rp.MaximumInterval
	if wait <= 0 {
		wait = time.Second
	}
	if coef < 1 {
		coef = 2
	}
	if max <= 0 {
		max = 100 * wait
	}
	n := int32(1)
	for spent := time.Duration(0); spent < d && n < 10000; n++ {
		spent += wait
		wait = min(time.Duration(float64(wait)*coef), max)
	}
	return n
}

// hostOf reads the deployment's host from the store, for workflows that
// hold no plan (the bake, a drain deadline).
func hostOf(ctx workflow.Context, deploymentID string) (workflow.Context, error) {
	if workflow.GetVersion(ctx, hostQueuesChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return ctx, nil
	}
	var host string
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeOptions), acts.DeploymentHost, deploymentID).Get(ctx, &host); err != nil {
		return ctx, err
	}
	return withHost(ctx, host), nil
}
