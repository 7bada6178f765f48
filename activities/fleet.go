package activities

import (
	"context"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/rewindhq/rewind/internal/identity"
)

// FleetRollbackWorkflowName is the fleet workflow's registered name; the
// activities below refuse to act for any other workflow.
const FleetRollbackWorkflowName = "FleetRollbackWorkflow"

// FleetVerify asks whether the fleet's requester is verified (R18, R22).
type FleetVerify struct {
	RequestedBy string
	Signature   string
	InputDigest string
}

// VerifyFleet checks the fleet's own signature exactly as a change's is
// checked (once, for this run): it is what lets the fleet sign its
// children. A claimed fleet runs claimed children, no more than the
// Temporal CLI could start one by one.
func (a *StoreActivities) VerifyFleet(ctx context.Context, in FleetVerify) (bool, error) {
	return a.verifyRequester(ctx, in.RequestedBy, "", in.Signature, in.InputDigest)
}

// FleetChildClaim is one child rollback a verified fleet asks to sign.
type FleetChildClaim struct {
	FleetVerified bool
	RequestedBy   string
	DeploymentID  string
	InputDigest   string
}

// SignFleetChild signs one child RollbackWorkflow of a verified fleet for
// its change/<deployment> id, just before it starts, so the child's
// signature is fresh (MaxAge) however late in the fleet it runs, and the
// child's worker checks it like any rollback's (R22: one change, once).
// It only ever signs a RollbackWorkflow under a change id, for the fleet's
// own requester, from a FleetRollbackWorkflow whose signature was
// verified; the child still decides every rule (R10 included) itself.
func (a *StoreActivities) SignFleetChild(ctx context.Context, in FleetChildClaim) (string, error) {
	info := activity.GetInfo(ctx)
	if !in.FleetVerified || info.WorkflowType == nil || info.WorkflowType.Name != FleetRollbackWorkflowName ||
		!strings.HasPrefix(info.WorkflowExecution.ID, "fleet/") || a.Config == nil {
		return "", nil
	}
	key, err := a.Config.SigningKey()
	if err != nil || key == nil {
		return "", err
	}
	return identity.Sign(key, identity.Claim{RequestedBy: in.RequestedBy, DeploymentID: in.DeploymentID,
		WorkflowID: "change/" + in.DeploymentID, WorkflowType: "RollbackWorkflow", InputDigest: in.InputDigest, SignedAt: time.Now()}), nil
}
