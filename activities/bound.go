package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// errBound is the cancel cause of a host step past its wall-clock bound.
var errBound = errors.New("bound")

// bounded heartbeats while a host step runs and bounds the step in
// wall-clock time across all its attempts (issue 27): attempts alone let a
// Docker step that hangs hold its deployment's lock for hours. The first
// attempt's start travels in the heartbeat details, so a retry after a
// crash or a stall keeps the same deadline; time spent waiting in the
// queue for a host that is down does not count (nothing ran). The work
// runs under the returned context, cut at the deadline; done turns an
// error at the deadline into BoundExceeded, not retried, naming the bound
// and its setting, so the change is compensated and its lock released.
func bounded(ctx context.Context, what string, stallAfter, bound time.Duration, setting string) (*watchdog, context.Context, func(error) error) {
	since := time.Now()
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		var prev Heartbeat
		if activity.GetHeartbeatDetails(ctx, &prev) == nil && !prev.Since.IsZero() && prev.Since.Before(since) {
			since = prev.Since
		}
	}
	w, wctx := watchSince(ctx, what, stallAfter, since)
	if bound <= 0 {
		return w, wctx, func(err error) error { w.stop(); return w.err(wctx, err) }
	}
	bctx, cancel := context.WithDeadlineCause(wctx, since.Add(bound), errBound)
	return w, bctx, func(err error) error {
		defer w.stop()
		defer cancel()
		if err != nil && errors.Is(context.Cause(bctx), errBound) {
			attempt := int32(1)
			if activity.IsActivity(ctx) {
				attempt = activity.GetInfo(ctx).Attempt
			}
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s did not finish within %s of its first attempt (%s; %d attempts): %v",
				what, bound, setting, attempt, err), "BoundExceeded", nil)
		}
		return w.err(wctx, err)
	}
}

// hostStep bounds a Docker step by REWIND_HOST_STEP_BOUND.
func (a *HostActivities) hostStep(ctx context.Context, what string) (context.Context, func(error) error) {
	_, bctx, done := bounded(ctx, what, 0, a.Config.HostStepBound, "REWIND_HOST_STEP_BOUND")
	return bctx, done
}

// snapshotStep bounds a metadata snapshot or restore, which lasts as long
// as the database is large, by REWIND_SNAPSHOT_BOUND.
func (a *HostActivities) snapshotStep(ctx context.Context, what string) (context.Context, func(error) error) {
	_, bctx, done := bounded(ctx, what, 0, a.Config.SnapshotBound, "REWIND_SNAPSHOT_BOUND")
	return bctx, done
}
