package activities

import (
	"context"

	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/runtime"
	"github.com/rewindhq/rewind/internal/store"
)

// DeployCheck is what ValidateDeploy needs to decide.
type DeployCheck struct {
	DeploymentID  string            `json:"deploymentId"`
	RequestedBy   string            `json:"requestedBy"`
	Type          domain.DeployType `json:"type"`
	CarriesBundle bool              `json:"carriesBundle"`
	BundleDigest  string            `json:"bundleDigest,omitempty"`
	Signature     string            `json:"signature,omitempty"` // the requester's (R18)
	// InputDigest is the digest of the workflow's canonical input, which
	// the signature must cover (R22).
	InputDigest string `json:"inputDigest,omitempty"`
	// ImageRef is the deploy's image (a DAG_ONLY deploy's, when given, must
	// be the current one).
	ImageRef string `json:"imageRef,omitempty"`
	// GitCommit and Force feed the rollback guard; Force needs a
	// description, checked with the input.
	GitCommit string `json:"gitCommit,omitempty"`
	Force     bool   `json:"force,omitempty"`
	// DryRun plans only; Diff adds unified diffs to the plan's DAG diff.
	DryRun bool `json:"dryRun,omitempty"`
	Diff   bool `json:"diff,omitempty"`
}

// DeployPlan is the deployment as the deploy found it.
type DeployPlan struct {
	Deployment domain.Deployment `json:"deployment"`
	Current    *domain.Revision  `json:"current,omitempty"`
	// RequestedByVerified: the requester was signed by rewind's own
	// clients, not merely claimed (R18).
	RequestedByVerified bool `json:"requestedByVerified"`
	// ForcedPast is the rollback whose guard this deploy overrides.
	ForcedPast int `json:"forcedPast,omitempty"`
	// ImportErrorsBefore is the scheduler's DAG import errors before the
	// deploy, the baseline of its bake (-1 unknown or not baked).
	ImportErrorsBefore int `json:"importErrorsBefore"`
	// DagDiff is what the deploy changes in the DAGs (dry runs), or
	// DagDiffNote why there is no diff.
	DagDiff     *bundle.Diff `json:"dagDiff,omitempty"`
	DagDiffNote string       `json:"dagDiffNote,omitempty"`
}

// ValidateDeploy reads the deployment and the requester's grants now, so the
// decision uses current data, and applies R10.
func (a *StoreActivities) ValidateDeploy(ctx context.Context, c DeployCheck) (DeployPlan, error) {
	d, verified, err := a.mayDeploy(ctx, c.RequestedBy, c.DeploymentID, c.Signature, c.InputDigest, c.Type, c.CarriesBundle, c.DryRun)
	if err != nil {
		return DeployPlan{}, err
	}
	plan := DeployPlan{Deployment: d.Redacted(), RequestedByVerified: verified}
	if d.CurrentRevision > 0 {
		cur, err := a.Store.GetRevision(ctx, d.ID, d.CurrentRevision)
		if err != nil {
			return plan, err
		}
		plan.Current = &cur
	}
	if c.Type == domain.DeployDAGOnly && plan.Current == nil {
		return plan, refuse(domain.Errorf(domain.InvalidInput, "deployment %s has no image yet: its first deploy must include one", d.ID))
	}
	if c.Type == domain.DeployDAGOnly && c.ImageRef != "" && !runtime.SameImage(c.ImageRef, plan.Current.ImageRef) {
		return plan, refuse(domain.Errorf(domain.InvalidInput, "a DAG_ONLY deploy keeps the current image %s; --image names %s (deploy both with IMAGE_AND_DAG)",
			plan.Current.ImageRef, c.ImageRef))
	}
	if plan.ForcedPast, err = a.checkGuard(ctx, c, plan.Current); err != nil {
		return plan, err
	}
	plan.ImportErrorsBefore = -1
	if d.AutoRollback != nil && d.AutoRollback.Enabled && plan.Current != nil && !c.DryRun && a.Runtime != nil && a.drives(d) {
		if n, err := importErrors(ctx, a.Runtime, a.Config, d.ID); err == nil {
			plan.ImportErrorsBefore = n
		}
	}
	if c.DryRun {
		if plan.DagDiff, plan.DagDiffNote, err = a.dagDiff(ctx, d, plan.Current, c.BundleDigest, c.Diff); err != nil {
			return plan, refuse(err)
		}
	}
	// An unsafe or missing bundle is refused here, before the revision is
	// recorded, so hostile input changes nothing. Checking reads the whole
	// bundle (up to REWIND_BUNDLE_MAX_BYTES), so the activity heartbeats.
	if c.BundleDigest != "" && a.Bundles != nil {
		stop := heartbeatWhile(ctx, "checking DAG bundle "+c.BundleDigest)
		defer stop()
		if err := bundle.Check(ctx, a.Bundles, c.BundleDigest, a.Config.BundleRoot, bundleLimits(a.Config)); err != nil {
			return plan, refuse(err)
		}
	}
	return plan, nil
}

// RecordRevision adds the change's INITIALIZED revision at the top of the
// history. A retry returns the row the first attempt made. If another change
// holds the deployment it is refused with ChangeInProgress (R14), unless
// that change's workflow is gone (terminated, timed out), in which case its
// revision is marked FAILED so the deployment is not locked forever.
func (a *StoreActivities) RecordRevision(ctx context.Context, r domain.Revision) (domain.Revision, error) {
	for tries := 0; ; tries++ {
		rev, err := a.Store.CreateRevision(ctx, r)
		var busy *store.InProgressError
		if !errors.As(err, &busy) {
			return rev, refuse(err)
		}
		h := busy.Holder
		open, err := a.workflowOpen(ctx, h.WorkflowID, h.RunID)
		if err != nil {
			return rev, err
		}
		if open || tries > 2 {
			return rev, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("deployment %s has a change in progress: revision %d by workflow %s (run %s); follow it with `rewind watch %s` (R14)",
					h.DeploymentID, h.Number, h.WorkflowID, h.RunID, h.WorkflowID),
				string(domain.ChangeInProgress), nil, h.WorkflowID, h.RunID)
		}
		activity.GetLogger(ctx).Warn("releasing revision of an abandoned change", "deployment", h.DeploymentID, "revision", h.Number, "workflowId", h.WorkflowID, "runId", h.RunID)
		if _, err := a.Store.FinishRevision(ctx, store.Finish{DeploymentID: h.DeploymentID, Number: h.Number, Status: domain.StatusFailed,
			Reason: "abandoned: its workflow ended without finishing it (terminated or timed out)", At: r.CreatedAt}); err != nil {
			return rev, err
		}
		a.exportAbandoned(ctx, h, r.WorkflowID, r.CreatedAt)
	}
}

func (a *StoreActivities) workflowOpen(ctx context.Context, workflowID, runID string) (bool, error) {
	if a.Temporal == nil {
		return true, nil
	}
	desc, err := a.Temporal.DescribeWorkflowExecution(ctx, workflowID, runID)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

// FinishRevision marks the revision DEPLOYED (and current) or FAILED.
func (a *StoreActivities) FinishRevision(ctx context.Context, f FinishRequest) (domain.Revision, error) {
	rev, err := a.Store.FinishRevision(ctx, f.finish())
	return rev, refuse(err)
}

// ConfigCheck is what ValidateConfigChange needs to decide.
type ConfigCheck struct {
	DeploymentID string `json:"deploymentId"`
	RequestedBy  string `json:"requestedBy"`
	Signature    string `json:"signature,omitempty"`
	InputDigest  string `json:"inputDigest,omitempty"` // see DeployCheck
}

// ValidateConfigChange allows applying the stored configuration now: the
// requester may restart the deployment's components (deployment.images.push,
// R10), the deployment runs a DEPLOYED revision, and no change holds it
// (R14: a change started under another workflow id shows as an INITIALIZED
// revision).
func (a *StoreActivities) ValidateConfigChange(ctx context.Context, c ConfigCheck) (DeployPlan, error) {
	d, verified, err := a.mayDeploy(ctx, c.RequestedBy, c.DeploymentID, c.Signature, c.InputDigest, domain.DeployImageOnly, false, false)
	if err != nil {
		return DeployPlan{}, err
	}
	if d.CurrentRevision == 0 {
		return DeployPlan{}, refuse(domain.Errorf(domain.InvalidState, "deployment %s has no containers yet: its first deploy starts them with the stored configuration", d.ID))
	}
	latest, err := a.Store.ListRevisions(ctx, d.ID, 1, 0)
	if err != nil {
		return DeployPlan{}, err
	}
	if len(latest) == 1 && latest[0].Status == domain.StatusInitialized {
		h := latest[0]
		return DeployPlan{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("deployment %s has a change in progress: revision %d by workflow %s; apply the configuration when it is done (R14)", d.ID, h.Number, h.WorkflowID),
			string(domain.ChangeInProgress), nil, h.WorkflowID, h.RunID)
	}
	cur, err := a.Store.GetRevision(ctx, d.ID, d.CurrentRevision)
	if err != nil {
		return DeployPlan{}, err
	}
	return DeployPlan{Deployment: d.Redacted(), Current: &cur, RequestedByVerified: verified}, nil
}

// mayDeploy verifies the requester's signature, refuses a real change
// under a plan's id, then reads the requester's grants and the deployment
// now, so the decision uses current data, and applies R10 to a deploy of
// type typ — permission before the deployment is looked up (issue 26).
func (a *StoreActivities) mayDeploy(ctx context.Context, requester, deploymentID, signature, inputDigest string, typ domain.DeployType, carriesBundle, dryRun bool) (domain.Deployment, bool, error) {
	verified, err := a.verifyRequester(ctx, requester, deploymentID, signature, inputDigest)
	if err != nil {
		return domain.Deployment{}, false, err
	}
	if err := policy.CheckChangeWorkflow(activity.GetInfo(ctx).WorkflowExecution.ID, deploymentID, dryRun); err != nil {
		return domain.Deployment{}, false, refuse(err)
	}
	grants, err := a.Store.GrantsFor(ctx, requester)
	if err != nil {
		return domain.Deployment{}, false, err
	}
	if err := policy.CheckDeployPermission(requester, policy.Effective(grants, deploymentID), deploymentID, typ, carriesBundle); err != nil {
		return domain.Deployment{}, false, refuse(err)
	}
	d, err := a.Store.GetDeployment(ctx, deploymentID)
	if err != nil {
		return domain.Deployment{}, false, refuse(err)
	}
	if err := policy.CheckDeploy(requester, policy.Effective(grants, d.ID), d, typ, carriesBundle); err != nil {
		return domain.Deployment{}, false, refuse(err)
	}
	return d, verified, nil
}
