package activities

import (
	"context"
	"encoding/json"
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
	"github.com/rewindhq/rewind/internal/runtime"
)

// Automatic rollback after a bad deploy (issue 16), the activities of the
// bake: probe the scheduler, and roll back as rewind itself.

// ProbeRequest names the deploy being baked.
type ProbeRequest struct {
	DeploymentID string `json:"deploymentId"`
	Revision     int    `json:"revision"`
}

// ProbeResult is one probe: whether the deployment still runs the baked
// revision (a change since ends the bake), and how its scheduler does.
type ProbeResult struct {
	Current      bool   `json:"current"`
	Healthy      bool   `json:"healthy"`
	ImportErrors int    `json:"importErrors"` // -1 when unknown
	Evidence     string `json:"evidence"`
}

// Probe runs the health and import-error checks in the scheduler.
func (a *HostActivities) Probe(ctx context.Context, req ProbeRequest) (ProbeResult, error) {
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return ProbeResult{}, refuse(err)
	}
	if d.CurrentRevision != req.Revision {
		return ProbeResult{Evidence: fmt.Sprintf("revision %d is current now", d.CurrentRevision)}, nil
	}
	res := ProbeResult{Current: true, Healthy: true, ImportErrors: -1}
	code, out, err := a.Runtime.Exec(ctx, d.ID, "scheduler", strings.Fields(a.Config.BakeHealthCheck), 30*time.Second)
	switch {
	case domain.TypeOf(err) == domain.NotFound:
		res.Healthy, res.Evidence = false, err.Error()
	case err != nil:
		return res, err
	case code != 0:
		res.Healthy, res.Evidence = false, fmt.Sprintf("`%s` exited %d: %s", a.Config.BakeHealthCheck, code, strings.TrimSpace(clipOutput(out)))
	}
	if n, err := importErrors(ctx, a.Runtime, a.Config, d.ID); err == nil {
		res.ImportErrors = n
	}
	return res, nil
}

// importErrors counts the scheduler's DAG import errors, from the JSON list
// the configured command prints (Airflow's list-import-errors --output json).
func importErrors(ctx context.Context, rt *runtime.Runtime, cfg *config.Config, deploymentID string) (int, error) {
	_, out, err := rt.Exec(ctx, deploymentID, "scheduler", strings.Fields(cfg.BakeImportErrorsCheck), 60*time.Second)
	if err != nil {
		return -1, err
	}
	var list []json.RawMessage
	start := strings.IndexByte(out, '[')
	if start < 0 || json.Unmarshal([]byte(strings.TrimSpace(out[start:])), &list) != nil {
		return -1, fmt.Errorf("import errors: not a JSON list: %q", clipOutput(out))
	}
	return len(list), nil
}

// AutomaticRollback asks for the rollback a failed bake decided on.
type AutomaticRollback struct {
	DeploymentID string `json:"deploymentId"`
	Target       int    `json:"target"`
	Evidence     string `json:"evidence"`
}

// StartAutomaticRollback starts RollbackWorkflow under the change id, as
// rewind itself — signed with the worker's key, so it is verified (R18)
// and passes R10 — with the probe's evidence as its description. A change
// already running (a person got there first) is reported, not fought.
func (a *StoreActivities) StartAutomaticRollback(ctx context.Context, req AutomaticRollback) (string, error) {
	if a.Temporal == nil {
		return "", errors.New("no Temporal client")
	}
	key, err := a.Config.SigningKey()
	if err != nil {
		return "", err
	}
	id := "change/" + req.DeploymentID
	in := map[string]any{"deploymentId": req.DeploymentID, "revision": req.Target, "description": clipDescription(req.Evidence),
		"requestedBy": domain.AutomaticRequester, "scope": "all"}
	if key != nil {
		in["requesterSignature"] = identity.Sign(key, identity.Claim{RequestedBy: domain.AutomaticRequester, DeploymentID: req.DeploymentID, WorkflowID: id, SignedAt: time.Now()})
	}
	run, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: a.Config.TaskQueue, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            clipDescription(fmt.Sprintf("Automatic rollback of %s to revision %d — %s", req.DeploymentID, req.Target, req.Evidence)),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword("RewindDeployment").ValueSet(req.DeploymentID),
			temporal.NewSearchAttributeKeyKeyword("RewindKind").ValueSet("rollback"),
			temporal.NewSearchAttributeKeyKeyword("RewindRequestedBy").ValueSet(domain.AutomaticRequester)),
	}, "RollbackWorkflow", in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return "", temporal.NewNonRetryableApplicationError("a change is already running on "+req.DeploymentID+"; the automatic rollback stands down", string(domain.ChangeInProgress), nil)
	}
	if err != nil {
		return "", err
	}
	return run.GetID() + " " + run.GetRunID(), nil
}

// BakeRequest starts the bake of a deploy.
type BakeRequest struct {
	DeploymentID string              `json:"deploymentId"`
	Revision     int                 `json:"revision"`
	Previous     int                 `json:"previous"`
	Baseline     int                 `json:"baseline"` // import errors before the deploy, -1 unknown
	Settings     domain.AutoRollback `json:"settings"`
}

// StartBake starts BakeWorkflow under bake/<deployment>, ending the bake of
// an earlier deploy still running: only the newest deploy is baked.
func (a *StoreActivities) StartBake(ctx context.Context, req BakeRequest) error {
	if a.Temporal == nil {
		return nil
	}
	_, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "bake/" + req.DeploymentID, TaskQueue: a.Config.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
		StaticSummary:            fmt.Sprintf("Bake revision %d of %s for %s", req.Revision, req.DeploymentID, req.Settings.BakePeriod),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword("RewindDeployment").ValueSet(req.DeploymentID),
			temporal.NewSearchAttributeKeyKeyword("RewindKind").ValueSet("bake")),
	}, "BakeWorkflow", req)
	return err
}

func clipDescription(s string) string {
	if r := []rune(s); len(r) > 500 {
		return string(r[:499]) + "…"
	}
	return s
}
