package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/identity"
)

// verifyRequester checks who asked for the change running this activity
// (R18): a requester signed by rewind's own clients, for this deployment and
// this workflow id, recently, is verified; anything else is claimed — and
// refused when the installation requires verified requesters. It runs
// before anything about the deployment is read or disclosed.
func (a *StoreActivities) verifyRequester(ctx context.Context, requestedBy, deploymentID, signature string) (bool, error) {
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
	if now.IsZero() {
		now = time.Now()
	}
	err := identity.Verify(key, identity.Claim{RequestedBy: requestedBy, DeploymentID: deploymentID, WorkflowID: info.WorkflowExecution.ID}, signature, now)
	if err == nil {
		return true, nil
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
