package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/identity"
	"github.com/rewindhq/rewind/internal/store"
)

// decidedAtKey carries the workflow's time of a decision made in a local
// activity (issue 31). An activity's ScheduledTime is when the workflow
// first asked, the same for every attempt; a local activity's is when this
// worker started it, later after a worker died and another replayed the
// run. The workflow's time keeps a signature's age what it was when the
// change asked.
type decidedAtKey struct{}

// verifyRequester checks who asked for the change running this activity
// and what they asked for (R18, R22): a requester signed by rewind's own
// clients for this deployment, this workflow id and type and this input
// (inputDigest, computed by the workflow from what it runs), recently, is
// verified, once — the nonce is recorded for this run, and another run
// presenting it is refused. Anything else is claimed, and refused when the
// installation requires verified requesters. It runs before anything about
// the deployment is read or disclosed.
func (a *StoreActivities) verifyRequester(ctx context.Context, requestedBy, deploymentID, signature, inputDigest string) (bool, error) {
	var key []byte
	if a.Config != nil {
		k, err := a.Config.SigningKey()
		if err != nil {
			return false, err
		}
		key = k
	}
	info := activity.GetInfo(ctx)
	now := info.ScheduledTime
	if at, ok := ctx.Value(decidedAtKey{}).(time.Time); ok && info.IsLocalActivity && !at.IsZero() {
		now = at
	}
	if now.IsZero() {
		now = time.Now()
	}
	claim := identity.Claim{RequestedBy: requestedBy, DeploymentID: deploymentID, WorkflowID: info.WorkflowExecution.ID,
		WorkflowType: info.WorkflowType.Name, InputDigest: inputDigest}
	nonce, err := identity.Verify(key, claim, signature, now)
	if err == nil {
		first, uerr := a.Store.UseSignature(ctx, store.UsedSignature{Nonce: nonce, WorkflowID: info.WorkflowExecution.ID,
			RunID: info.WorkflowExecution.RunID, UsedAt: time.Now()}, time.Now().Add(-2*identity.MaxAge))
		if uerr != nil {
			return false, uerr
		}
		if first.WorkflowID == info.WorkflowExecution.ID && first.RunID == info.WorkflowExecution.RunID {
			return true, nil
		}
		activity.GetLogger(ctx).Warn("requester signature replayed: refused", "requestedBy", requestedBy, "deployment", deploymentID,
			"firstWorkflowId", first.WorkflowID, "firstRunId", first.RunID, "firstUsedAt", first.UsedAt)
		return false, refuse(domain.Errorf(domain.PermissionDenied, "the requester signature for %q was already used by workflow %s (run %s) at %s; "+
			"a signature authorises one change, once (R22)", requestedBy, first.WorkflowID, first.RunID, first.UsedAt.Format(time.RFC3339)))
	}
	if a.Config != nil && a.Config.RequireVerifiedRequests {
		return false, refuse(domain.Errorf(domain.PermissionDenied, "requester %q is not verified: %v; this installation requires requests signed by rewind's own clients "+
			"(REWIND_REQUIRE_VERIFIED_REQUESTS) — start changes with `rewind` or its HTTP API, not the Temporal CLI or UI", requestedBy, err))
	}
	if signature != "" {
		activity.GetLogger(ctx).Warn("requester signature rejected; recording the requester as claimed", "requestedBy", requestedBy, "reason", err.Error())
	}
	return false, nil
}
