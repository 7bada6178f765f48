package workflows

import (
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
)

// ApplyConfigWorkflowName puts a deployment's stored configuration on its
// containers now (R17), instead of at its next change.
const ApplyConfigWorkflowName = "ApplyConfigWorkflow"

// KindConfig is RewindKind for a configuration change.
const KindConfig = "config"

// ApplyConfigInput is ApplyConfigWorkflow's input.
type ApplyConfigInput struct {
	DeploymentID       string `json:"deploymentId"`
	RequestedBy        string `json:"requestedBy"`
	RequesterSignature string `json:"requesterSignature,omitempty"` // R18, see DeployInput
}

// ApplyConfigResult says what the configuration change did.
type ApplyConfigResult struct {
	Revision int                    `json:"revision"` // the revision the containers still run
	Swap     *activities.SwapReport `json:"swap,omitempty"`
	Progress Progress               `json:"progress"`
}

// Steps of a configuration change.
const StepCheck = "check"

// ApplyConfigWorkflow recreates the deployment's containers with its stored
// environment and resources, on the image of its current revision. It runs
// under the change id (R14) like a deploy, and is logged and exported like
// one, but it is not a revision: the image and DAGs do not change (R1).
// Workers are drained, never killed. A configuration whose containers do
// not come up leaves the old ones running (the swap's own rule).
func ApplyConfigWorkflow(ctx workflow.Context, raw json.RawMessage) (res *ApplyConfigResult, err error) {
	t, err := newTracker(ctx, KindConfig, StepCheck, StepPull, StepSwap, StepVerify)
	if err != nil {
		return nil, err
	}
	defer func() {
		t.finish(err)
		exportEvents(ctx, t)
	}()
	var in ApplyConfigInput
	if perr := decodeStrict(raw, &in); perr == nil {
		if perr = domain.CheckDeploymentID(in.DeploymentID); perr == nil {
			perr = domain.CheckUser(in.RequestedBy)
		}
		if perr != nil {
			err = asApplicationError(perr)
		}
	} else {
		err = asApplicationError(perr)
	}
	if err != nil {
		return nil, err
	}
	t.about(in.DeploymentID, in.RequestedBy)
	logger := log.With(t.logger, "kind", KindConfig)
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrDeployment.ValueSet(in.DeploymentID), AttrKind.ValueSet(KindConfig),
		AttrRequestedBy.ValueSet(in.RequestedBy)); err != nil {
		return nil, err
	}
	var plan activities.DeployPlan
	if err := t.run(ctx, StepCheck, func() error {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeOptions), acts.ValidateConfigChange,
			activities.ConfigCheck{DeploymentID: in.DeploymentID, RequestedBy: in.RequestedBy, Signature: in.RequesterSignature, InputDigest: in.Digest()}).Get(ctx, &plan)
	}); err != nil {
		return nil, err
	}
	if err := recordVerified(ctx, t, plan.RequestedByVerified); err != nil {
		return nil, err
	}
	cur := plan.Current
	t.revision(*cur)
	ctx = withHost(ctx, plan.Deployment.Host)
	var img activities.Image
	if err := t.run(ctx, StepPull, func() error {
		return workflow.ExecuteActivity(onHost(ctx, pullOptions), hostActs.PullImage,
			activities.PullRequest{DeploymentID: cur.DeploymentID, Ref: cur.ImageRef, Digest: cur.ImageDigest}).Get(ctx, &img)
	}); err != nil {
		return nil, err
	}
	var rep activities.SwapReport
	if err := t.run(ctx, StepSwap, func() error {
		err := workflow.ExecuteActivity(onHost(ctx, swapOptions), hostActs.SwapComponents,
			activities.SwapRequest{DeploymentID: cur.DeploymentID, Image: img, Revision: cur.Number}).Get(ctx, &rep)
		if err == nil {
			t.detail(StepSwap, swapSummary(rep))
		}
		return err
	}); err != nil {
		return nil, err
	}
	enforceDrains(ctx, t, cur.DeploymentID, rep)
	if err := t.run(ctx, StepVerify, func() error {
		return workflow.ExecuteActivity(onHost(ctx, dockerOptions), hostActs.Verify,
			activities.VerifyRequest{DeploymentID: cur.DeploymentID, ImageID: img.ID, Components: componentNames(plan.Deployment)}).Get(ctx, nil)
	}); err != nil {
		return nil, err
	}
	logger.Info("configuration applied", "revision", cur.Number, "replaced", len(rep.Replaced), "unchanged", len(rep.Unchanged))
	t.finish(nil)
	return &ApplyConfigResult{Revision: cur.Number, Swap: &rep, Progress: t.p}, nil
}

// ApplyConfigSummary is the line the Temporal UI shows for it.
func ApplyConfigSummary(in ApplyConfigInput) string {
	return fmt.Sprintf("Apply the stored configuration of %s (requested by %s)", in.DeploymentID, in.RequestedBy)
}
