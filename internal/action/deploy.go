// Package action holds one type per user action (deploy, history, …) with
// its options as fields and a Run method, in the manner of Helm's
// pkg/action. The CLI and the HTTP API are thin layers over these.
package action

import (
	"context"

	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/identity"
	"github.com/rewindhq/rewind/internal/namespace"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/runtime"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// Deploy starts a DeployWorkflow. It checks what it can before starting
// (input, deployment, permission: the same policy the workflow applies
// again) so a refusal is an immediate error rather than a failed workflow.
type Deploy struct {
	Config   *config.Config
	Store    *store.Store
	Temporal client.Client
	Input    workflows.DeployInput
}

func (a *Deploy) Run(ctx context.Context) (client.WorkflowRun, error) {
	in := a.Input
	if err := in.Validate(); err != nil {
		return nil, err
	}
	d, err := permitted(ctx, a.Store, in.RequestedBy, in.DeploymentID,
		func(p policy.Permissions) error {
			return policy.CheckDeployPermission(in.RequestedBy, p, in.DeploymentID, in.Type, in.DagBundleVersion != "")
		},
		func(p policy.Permissions, d domain.Deployment) error {
			return policy.CheckDeploy(in.RequestedBy, p, d, in.Type, in.DagBundleVersion != "")
		})
	if err != nil {
		return nil, err
	}
	if in.Type == domain.DeployDAGOnly && in.ImageRef != "" && d.CurrentRevision > 0 {
		// The worker decides this again on current data; here it is an
		// immediate one-line refusal.
		if cur, err := a.Store.GetRevision(ctx, d.ID, d.CurrentRevision); err == nil && !runtime.SameImage(in.ImageRef, cur.ImageRef) {
			return nil, domain.Errorf(domain.InvalidInput, "a DAG_ONLY deploy keeps the current image %s; --image names %s (deploy both with IMAGE_AND_DAG)", cur.ImageRef, in.ImageRef)
		}
	}
	what := in.ImageRef
	if what == "" {
		what = "DAGs " + in.DagBundleVersion
	}
	summary := fmt.Sprintf("Deploy %s to %s", what, in.DeploymentID)
	if in.Description != "" {
		summary += " — " + in.Description
	}
	if in.DryRun {
		return StartPlan(ctx, a.Config, a.Temporal, in.DeploymentID, workflows.DeployWorkflowName, workflows.KindDeploy, in.RequestedBy, summary, in)
	}
	return StartChange(ctx, a.Config, a.Temporal, in.DeploymentID, workflows.DeployWorkflowName, workflows.KindDeploy, in.RequestedBy, summary, in)
}

// StartChange starts a deploy or rollback under the deployment's change id,
// so Temporal refuses a second one while the first runs (R14). The
// requester is signed with the installation's key, when it has one (R18).
func StartChange(ctx context.Context, cfg *config.Config, c client.Client, deploymentID, workflowType, kind, requestedBy, summary string, input any) (client.WorkflowRun, error) {
	id := workflows.ChangeWorkflowID(deploymentID)
	input, err := signed(cfg, input, workflowType, requestedBy, deploymentID, id)
	if err != nil {
		return nil, err
	}
	opts := client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                cfg.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            clip(summary, 200),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrDeployment.ValueSet(deploymentID),
			workflows.AttrKind.ValueSet(kind),
			workflows.AttrRequestedBy.ValueSet(requestedBy)),
	}
	run, err := c.ExecuteWorkflow(ctx, opts, workflowType, input)
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) && strings.Contains(invalid.Error(), "search attribute") {
		// No worker has registered them yet (a fresh server); the change
		// can still be queued for the first worker to pick up.
		if err := namespace.EnsureSearchAttributes(ctx, c, cfg.Namespace); err != nil {
			return nil, err
		}
		run, err = c.ExecuteWorkflow(ctx, opts, workflowType, input)
	}
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil, &ChangeInProgressError{WorkflowID: id, RunID: started.RunId, DeploymentID: deploymentID}
	}
	return run, err
}

// ChangeInProgressError is R14's refusal, with the running change's ids so
// the CLI and the HTTP API can point at it.
type ChangeInProgressError struct {
	DeploymentID, WorkflowID, RunID string
}

func (e *ChangeInProgressError) Error() string {
	return fmt.Sprintf("deployment %s has a change in progress: workflow %s (run %s); follow it with `rewind watch %s` (R14)",
		e.DeploymentID, e.WorkflowID, e.RunID, e.WorkflowID)
}

// Type makes the refusal carry SPEC §3's ChangeInProgress type.
func (e *ChangeInProgressError) Type() domain.ErrorType { return domain.ChangeInProgress }

// ErrorType returns the stable SPEC §3 type of any error rewind returns:
// a domain refusal, R14's refusal, or a workflow's application error.
func ErrorType(err error) string {
	if t := domain.TypeOf(err); t != "" {
		return string(t)
	}
	var cip *ChangeInProgressError
	if errors.As(err, &cip) {
		return string(domain.ChangeInProgress)
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

// Message is the innermost human message of err: for a failed workflow,
// the application error's message rather than the chain of wrappers.
func Message(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Message()
	}
	return err.Error()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(s[:n]) + "…"
}

// signed returns the input with its requester signed for this workflow
// id and type and this very input (R22), or unchanged when the
// installation has no signing key (its workers then record every requester
// as claimed).
func signed(cfg *config.Config, input any, workflowType, requestedBy, deploymentID, workflowID string) (any, error) {
	key, err := cfg.SigningKey()
	if err != nil || key == nil {
		return input, err
	}
	claim := identity.Claim{RequestedBy: requestedBy, DeploymentID: deploymentID, WorkflowID: workflowID, WorkflowType: workflowType, SignedAt: time.Now()}
	switch in := input.(type) {
	case workflows.DeployInput:
		claim.InputDigest = in.Digest()
		in.RequesterSignature = identity.Sign(key, claim)
		return in, nil
	case workflows.RollbackInput:
		claim.InputDigest = in.Digest()
		in.RequesterSignature = identity.Sign(key, claim)
		return in, nil
	case workflows.FleetRollbackInput:
		claim.InputDigest = in.Digest()
		in.RequesterSignature = identity.Sign(key, claim)
		return in, nil
	case workflows.ApplyConfigInput:
		claim.InputDigest = in.Digest()
		in.RequesterSignature = identity.Sign(key, claim)
		return in, nil
	}
	return input, fmt.Errorf("cannot sign a %T", input)
}
