package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/notify"
)

// DeployResult is what DeployWorkflow returns; a dry run returns the plan
// and no revision.
type DeployResult struct {
	DryRun   bool                   `json:"dryRun,omitempty"`
	Plan     *activities.DeployPlan `json:"plan,omitempty"`
	Revision domain.Revision        `json:"revision"`
	Report   *ApplyReport           `json:"report,omitempty"`
	Progress Progress               `json:"progress"`
}

// Step names of a deploy, in order.
const (
	StepValidate = "validate"
	StepRecord   = "record revision"
	StepFinish   = "mark deployed"
)

func deploySteps() []string {
	return append(append([]string{StepValidate, StepRecord}, applySteps...), StepFinish)
}

// Method values name the activities; they are never called directly.
var (
	acts     *activities.StoreActivities
	hostActs *activities.HostActivities
)

// storeOptions suit activities that only touch the store: quick, and retried
// for as long as the database is away.
var storeOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	// Most store activities take milliseconds; validation reads a bundle
	// of up to 1 GiB or asks a registry, heartbeating every 5s meanwhile.
	// A dead worker's attempt is retried after this, not after 30s.
	HeartbeatTimeout:       20 * time.Second,
	ScheduleToCloseTimeout: time.Hour,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
	},
}

// DeployWorkflow records a deploy as a new revision and puts its image and
// DAGs in place: validate, record INITIALIZED, apply, mark DEPLOYED — or
// FAILED with the reason. The input is JSON (SPEC §3), decoded strictly.
func DeployWorkflow(ctx workflow.Context, raw json.RawMessage) (*DeployResult, error) {
	d := &deploy{}
	if err := d.setup(ctx); err != nil {
		return nil, err
	}
	return d.run(ctx, raw)
}

type deploy struct {
	in       DeployInput
	progress *tracker
	logger   log.Logger
}

func (d *deploy) setup(ctx workflow.Context) error {
	var err error
	d.progress, err = newTracker(ctx, KindDeploy, deploySteps()...)
	info := workflow.GetInfo(ctx)
	d.logger = log.With(workflow.GetLogger(ctx), "workflowId", info.WorkflowExecution.ID, "runId", info.WorkflowExecution.RunID)
	return err
}

func (d *deploy) run(ctx workflow.Context, raw json.RawMessage) (res *DeployResult, err error) {
	defer func() {
		d.progress.finish(err)
		exportEvents(ctx, d.progress)
	}()
	sctx := workflow.WithActivityOptions(ctx, storeOptions)
	d.progress.store = localStoreSteps(ctx)
	var plan activities.DeployPlan
	// Parsed before the step starts so that every event of a well-formed
	// request names its deployment and requester.
	in, perr := ParseDeployInput(raw)
	if perr == nil {
		d.progress.about(in.DeploymentID, in.RequestedBy)
	}
	err = d.progress.run(ctx, StepValidate, func() error {
		if perr == nil && in.Type == domain.DeployDAGOnly && in.ImageRef != "" &&
			workflow.GetVersion(ctx, "dag-only-current-image", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			perr = domain.Errorf(domain.InvalidInput, "a DAG_ONLY deploy keeps the current image; leave imageRef empty")
		}
		if perr != nil {
			return asApplicationError(perr)
		}
		d.in = in
		d.logger = log.With(d.logger, "deployment", in.DeploymentID, "requestedBy", in.RequestedBy)
		if uerr := workflow.UpsertTypedSearchAttributes(ctx, AttrDeployment.ValueSet(in.DeploymentID), AttrKind.ValueSet(KindDeploy),
			AttrRequestedBy.ValueSet(in.RequestedBy)); uerr != nil {
			return uerr
		}
		return workflow.ExecuteActivity(sctx, acts.ValidateDeploy, activities.DeployCheck{DeploymentID: in.DeploymentID,
			RequestedBy: in.RequestedBy, Type: in.Type, CarriesBundle: in.DagBundleVersion != "", BundleDigest: in.DagBundleDigest,
			Signature: in.RequesterSignature, InputDigest: in.Digest(), ImageRef: in.ImageRef, GitCommit: gitCommit(in.Git), Force: in.Force,
			DryRun: in.DryRun, Diff: in.Diff}).Get(ctx, &plan)
	})
	if err != nil {
		d.logger.Warn("deploy refused", "error", err)
		return nil, err
	}
	if err := recordVerified(ctx, d.progress, plan.RequestedByVerified); err != nil {
		return nil, err
	}
	if in.DryRun {
		for _, s := range deploySteps()[1:] {
			d.progress.skip(s, "dry run")
		}
		d.progress.finish(nil)
		return &DeployResult{DryRun: true, Plan: &plan, Progress: d.progress.p}, nil
	}

	info := workflow.GetInfo(ctx)
	rev := domain.Revision{DeploymentID: in.DeploymentID, CreatedAt: workflow.Now(ctx), CreatedBy: in.RequestedBy,
		Description: in.Description, Type: in.Type, ImageRef: in.ImageRef, DagBundleVersion: in.DagBundleVersion, RequestedByVerified: plan.RequestedByVerified,
		DagBundleDigest: in.DagBundleDigest, DagDeployEnabled: plan.Deployment.DagDeployEnabled,
		WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}
	inherit(&rev, plan.Current)
	rev.Git, rev.ForcedPast, rev.AllowUnknownVersion = in.Git, plan.ForcedPast, in.AllowUnknownVersion
	if rev.Description == "" && in.Git != nil {
		rev.Description = in.Git.Subject
	}
	err = d.progress.runStore(ctx, StepRecord, func() error {
		return d.progress.store.run(ctx, acts.RecordRevision, rev).Get(ctx, &rev)
	})
	if err != nil {
		return nil, err
	}
	d.progress.revision(rev)
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrRevision.ValueSet(int64(rev.Number))); err != nil {
		return nil, err
	}
	d.progress.detail(StepRecord, fmt.Sprintf("revision %d", rev.Number))
	d.logger.Info("revision recorded", "revision", rev.Number, "imageRef", rev.ImageRef)
	notifyChange(ctx, d.progress, notify.Started, rev, rev.Description)

	spec := applySpec{deployment: plan.Deployment, prev: plan.Current, images: in.Type.ChangesImage(),
		bundles: in.Type.ChangesDAGs() && in.DagBundleVersion != ""}
	out, err := applyAndFinish(ctx, d.progress, spec, &rev, false)
	if err != nil {
		d.logger.Warn("deploy failed", "revision", rev.Number, "error", err)
		return nil, err
	}
	d.logger.Info("deployed", "revision", rev.Number, "imageDigest", rev.ImageDigest)
	bake(ctx, plan, rev)
	d.progress.finish(nil)
	return &DeployResult{Revision: rev, Report: out, Progress: d.progress.p}, nil
}

// inherit fills what a partial deploy keeps from the current revision:
// DAG_ONLY keeps the image, IMAGE_ONLY keeps the DAG bundle.
func inherit(rev *domain.Revision, cur *domain.Revision) {
	if cur == nil {
		return
	}
	if !rev.Type.ChangesImage() {
		rev.ImageRef, rev.ImageDigest = cur.ImageRef, cur.ImageDigest
		rev.RuntimeVersion, rev.AirflowVersion = cur.RuntimeVersion, cur.AirflowVersion
		rev.RuntimeVersionSource, rev.AirflowVersionSource = cur.RuntimeVersionSource, cur.AirflowVersionSource
	}
	if !rev.Type.ChangesDAGs() || rev.DagBundleVersion == "" {
		rev.DagBundleVersion, rev.DagBundleDigest = cur.DagBundleVersion, cur.DagBundleDigest
	}
}

// asApplicationError gives a domain refusal its stable, non-retryable type.
func asApplicationError(err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		return temporal.NewNonRetryableApplicationError(de.Message, string(de.Type), nil)
	}
	return err
}

// reason is the innermost message of a failure, for the history's
// failure reason column.
func reason(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		if ae.Type() != "" {
			return ae.Type() + ": " + ae.Message()
		}
		return ae.Message()
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "timed out: " + te.Error()
	}
	return err.Error()
}

// recordVerified tells the change's events and search attributes whether
// its requester was verified (R18). Histories recorded before requesters
// were signed have no such upsert.
func recordVerified(ctx workflow.Context, t *tracker, verified bool) error {
	t.verified(verified)
	if workflow.GetVersion(ctx, "verified-requester", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	return workflow.UpsertTypedSearchAttributes(ctx, AttrRequestedByVerified.ValueSet(verified))
}

// gitCommit is the commit the rollback guard matches: only one a person or
// CI named (domain.GitInfo.Named). The HEAD of a work tree is recorded but
// not matched: it says nothing of an image or of uncommitted DAGs, and an
// operator shipping a fix from the same checkout must not be refused for it.
func gitCommit(g *domain.GitInfo) string {
	if !g.Named() {
		return ""
	}
	return g.Commit
}
