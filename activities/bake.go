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
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/identity"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/runtime"
	"github.com/rewindhq/rewind/internal/store"
)

// Automatic rollback after a bad deploy (issue 16), the activities of the
// bake: probe the scheduler, and roll back as rewind itself.

// ProbeRequest names the deploy being baked. Restarts are the restart
// counts the previous probe saw (ProbeResult.Restarts), by container id.
type ProbeRequest struct {
	DeploymentID string         `json:"deploymentId"`
	Revision     int            `json:"revision"`
	Restarts     map[string]int `json:"restarts,omitempty"`
	// ProveFor: how long a container that restarted during the bake must
	// stay up before a probe judges it healthy (runtime.ProbeOptions).
	ProveFor time.Duration `json:"proveFor,omitempty"`
}

// ProbeResult is one probe: whether the deployment still runs the baked
// revision (a change since ends the bake), and how its containers and
// scheduler do. Healthy false is a failed probe: a component missing,
// exited, restarting or restarted since the last probe, or the scheduler's
// health check failing; Evidence says which, with exit codes and log tails.
type ProbeResult struct {
	Current      bool   `json:"current"`
	Healthy      bool   `json:"healthy"`
	ImportErrors int    `json:"importErrors"` // -1 when unknown
	Evidence     string `json:"evidence"`
	// SwapInProgress: a replacement container exists (a swap runs or was
	// left half-done): what the probe saw is not judged.
	SwapInProgress bool `json:"swapInProgress,omitempty"`
	// Unproven: healthy now, but restarted during the bake and not up for
	// ProveFor yet: not judged.
	Unproven string         `json:"unproven,omitempty"`
	Restarts map[string]int `json:"restarts,omitempty"`
}

// Probe inspects the deployment's containers and runs the health and
// import-error checks in the scheduler (runtime.Probe). It fails (and is
// retried) only when the Engine cannot be reached: a container that is
// restarting, stopped or gone is a failed probe, never an error.
func (a *HostActivities) Probe(ctx context.Context, req ProbeRequest) (ProbeResult, error) {
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return ProbeResult{}, refuse(err)
	}
	if d.CurrentRevision != req.Revision {
		return ProbeResult{Evidence: fmt.Sprintf("revision %d is current now", d.CurrentRevision)}, nil
	}
	comps := make([]string, 0, len(d.Components))
	for _, c := range d.Components {
		comps = append(comps, c.Name)
	}
	rep, err := a.Runtime.Probe(ctx, d.ID, runtime.ProbeOptions{Components: comps, Revision: req.Revision, Restarts: req.Restarts, ProveFor: req.ProveFor,
		HealthCheck: strings.Fields(a.Config.BakeHealthCheck), ImportErrors: strings.Fields(a.Config.BakeImportErrorsCheck), Timeout: 30 * time.Second})
	if err != nil {
		return ProbeResult{}, refuse(err)
	}
	return ProbeResult{Current: true, Healthy: !rep.Failed, ImportErrors: rep.ImportErrors, Evidence: rep.Evidence,
		SwapInProgress: rep.SwapInProgress, Unproven: rep.Unproven, Restarts: rep.Restarts}, nil
}

// BakeStateRequest names the deploy being baked.
type BakeStateRequest struct {
	DeploymentID string `json:"deploymentId"`
	Revision     int    `json:"revision"`
}

// BakeState is what the bake needs to know of other changes around a probe.
// Current false ends the bake: another revision is current, or a newer one
// exists in any state (a person's deploy or rollback, running or finished:
// any change ends the bake). OtherChange names a change (change/<id>)
// running under another run than the baked deploy's — one that has not
// recorded a revision yet, or a configuration change — during which a
// failed probe is not judged. ChangeRun is the change id's latest run, so a
// change that started and ended between two reads is seen too.
type BakeState struct {
	Current     bool   `json:"current"`
	Evidence    string `json:"evidence,omitempty"`
	OtherChange string `json:"otherChange,omitempty"`
	ChangeRun   string `json:"changeRun,omitempty"`
}

// BakeState reads the store and Temporal (the shared queue's worker has the
// client; host workers do not).
func (a *StoreActivities) BakeState(ctx context.Context, req BakeStateRequest) (BakeState, error) {
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return BakeState{}, refuse(err)
	}
	if d.CurrentRevision != req.Revision {
		return BakeState{Evidence: fmt.Sprintf("revision %d is current now", d.CurrentRevision)}, nil
	}
	top, err := a.Store.ListRevisions(ctx, d.ID, 1, 0)
	if err != nil {
		return BakeState{}, err
	}
	if len(top) > 0 && top[0].Number > req.Revision {
		kind := "deploy"
		if top[0].RollbackOf > 0 {
			kind = "rollback"
		}
		return BakeState{Evidence: fmt.Sprintf("revision %d (a %s by %s, %s) came after it", top[0].Number, kind, top[0].CreatedBy, top[0].Status)}, nil
	}
	st := BakeState{Current: true}
	if a.Temporal == nil {
		return st, nil
	}
	baked, err := a.Store.GetRevision(ctx, d.ID, req.Revision)
	if err != nil {
		return st, refuse(err)
	}
	id := "change/" + d.ID
	desc, err := a.Temporal.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	info := desc.GetWorkflowExecutionInfo()
	st.ChangeRun = info.GetExecution().GetRunId()
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && st.ChangeRun != baked.RunID {
		st.OtherChange = fmt.Sprintf("%s (%s, run %s) is running", id, info.GetType().GetName(), st.ChangeRun)
	}
	return st, nil
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

// AutomaticRollback asks for the rollback a failed bake decided on: back
// from Revision (the baked one) to Target, with Input — RollbackWorkflow's
// input, built by the bake — whose canonical digest is InputDigest.
type AutomaticRollback struct {
	DeploymentID string          `json:"deploymentId"`
	Revision     int             `json:"revision,omitempty"`
	Target       int             `json:"target"`
	Evidence     string          `json:"evidence"`
	Input        json.RawMessage `json:"input,omitempty"`
	InputDigest  string          `json:"inputDigest,omitempty"`
	// Settings are the bake's own; they must be the deployment's.
	Settings domain.AutoRollback `json:"settings"`
}

// StartAutomaticRollback records the bake's decision and starts
// RollbackWorkflow under the change id as rewind (automatic). The decision
// — this input's digest and who enabled the bake — is what authorises the
// rollback (R22): it carries no signature. The decision is recorded only by
// a bake a landed deploy started (StartBake records its run), under
// bake/<deployment>, with the deployment's own settings, while automatic
// rollback is on, while the baked revision is current, and for a rollback
// to the revision it replaced; a bake started by hand decides nothing. A change already running (a
// person got there first) is reported, not fought.
func (a *StoreActivities) StartAutomaticRollback(ctx context.Context, req AutomaticRollback) (string, error) {
	if a.Temporal == nil {
		return "", errors.New("no Temporal client")
	}
	info := activity.GetInfo(ctx)
	if info.WorkflowType.Name != "BakeWorkflow" || info.WorkflowExecution.ID != "bake/"+req.DeploymentID || len(req.Input) == 0 || req.InputDigest == "" {
		return "", refuse(domain.Errorf(domain.PermissionDenied, "only the bake of deployment %s (bake/%s) decides its automatic rollbacks", req.DeploymentID, req.DeploymentID))
	}
	// A bake continues as new (issue 27): the run StartBake recorded is
	// the first of its chain, which the server (not the bake) names.
	bakeRun, err := a.firstRun(ctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
	if err != nil {
		return "", err
	}
	if ok, err := a.Store.IsBakeRun(ctx, bakeRun, req.DeploymentID, req.Revision); err != nil {
		return "", err
	} else if !ok {
		return "", refuse(domain.Errorf(domain.PermissionDenied, "this bake of deployment %s was not started by the deploy of revision %d; only such a bake decides an automatic rollback", req.DeploymentID, req.Revision))
	}
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return "", refuse(err)
	}
	if d.AutoRollback == nil || !d.AutoRollback.Enabled {
		return "", refuse(domain.Errorf(domain.PermissionDenied, "automatic rollback is off on deployment %s", d.ID))
	}
	if s, ar := req.Settings, d.AutoRollback; s.BakePeriod != ar.BakePeriod || s.Interval != ar.Interval || s.Failures != ar.Failures {
		// A bake started by hand with settings of its own, or one whose
		// settings an administrator changed since: it does not decide.
		return "", refuse(domain.Errorf(domain.PermissionDenied, "the bake's settings (%s, every %s, %d failures) are not deployment %s's (%s, every %s, %d failures)",
			s.BakePeriod, s.Interval, s.Failures, d.ID, ar.BakePeriod, ar.Interval, ar.Failures))
	}
	if d.CurrentRevision != req.Revision {
		return "", refuse(domain.Errorf(domain.InvalidState, "revision %d of %s is not current any more (%d is): the automatic rollback stands down", req.Revision, d.ID, d.CurrentRevision))
	}
	if prev, err := a.replaced(ctx, d.ID, req.Revision); err != nil {
		return "", err
	} else if prev != req.Target {
		return "", refuse(domain.Errorf(domain.PermissionDenied, "revision %d of %s replaced revision %d, not %d: a bake rolls back only to the revision its deploy replaced", req.Revision, d.ID, prev, req.Target))
	}
	if err := a.Store.RecordBakeDecision(ctx, store.BakeDecision{BakeRunID: bakeRun, DeploymentID: d.ID,
		InputDigest: req.InputDigest, EnabledBy: d.AutoRollback.EnabledBy, DecidedAt: time.Now()}); err != nil {
		return "", err
	}
	id := "change/" + req.DeploymentID
	run, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: a.Config.TaskQueue, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            clipDescription(fmt.Sprintf("Automatic rollback of %s to revision %d — %s", req.DeploymentID, req.Target, req.Evidence)),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword("RewindDeployment").ValueSet(req.DeploymentID),
			temporal.NewSearchAttributeKeyKeyword("RewindKind").ValueSet("rollback"),
			temporal.NewSearchAttributeKeyKeyword("RewindRequestedBy").ValueSet(domain.AutomaticRequester)),
	}, "RollbackWorkflow", req.Input)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return "", temporal.NewNonRetryableApplicationError("a change is already running on "+req.DeploymentID+"; the automatic rollback stands down", string(domain.ChangeInProgress), nil)
	}
	if err != nil {
		return "", err
	}
	return run.GetID() + " " + run.GetRunID(), nil
}

// firstRun is the first run of the workflow chain runID belongs to, as the
// server records it; runID itself when the server does not say.
func (a *StoreActivities) firstRun(ctx context.Context, workflowID, runID string) (string, error) {
	desc, err := a.Temporal.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return "", err
	}
	if first := desc.GetWorkflowExecutionInfo().GetFirstRunId(); first != "" {
		return first, nil
	}
	return runID, nil
}

// replaced is the revision a deploy replaced: the newest DEPLOYED revision
// numbered below it (0 when none).
func (a *StoreActivities) replaced(ctx context.Context, deploymentID string, revision int) (int, error) {
	for offset := 0; ; offset += 100 {
		revs, err := a.Store.ListRevisions(ctx, deploymentID, 100, offset)
		if err != nil || len(revs) == 0 {
			return 0, err
		}
		for _, r := range revs {
			if r.Number < revision && r.Status == domain.StatusDeployed {
				return r.Number, nil
			}
		}
	}
}

// BakeRequest starts the bake of a deploy.
type BakeRequest struct {
	DeploymentID string              `json:"deploymentId"`
	Revision     int                 `json:"revision"`
	Previous     int                 `json:"previous"`
	Baseline     int                 `json:"baseline"` // import errors before the deploy, -1 unknown
	Settings     domain.AutoRollback `json:"settings"`
	// ProbesPerRun: the bake continues as new after this many probes (0:
	// the default, 100), so its history stays small at any interval.
	ProbesPerRun int `json:"probesPerRun,omitempty"`
	// Carry is what an earlier run of the same bake hands on.
	Carry *BakeCarry `json:"carry,omitempty"`
}

// BakeCarry is a bake's state across continue-as-new.
type BakeCarry struct {
	Deadline time.Time      `json:"deadline"`
	Probes   int            `json:"probes"`
	Failures int            `json:"failures"` // failed probes in a row
	Unjudged int            `json:"unjudged"` // probes not judged or that could not run
	Healthy  bool           `json:"healthy"`  // the last judged probe was healthy and nothing unjudged since
	Last     string         `json:"last,omitempty"`
	Restarts map[string]int `json:"restarts,omitempty"`
}

// StartBake starts BakeWorkflow under bake/<deployment>, ending the bake of
// an earlier deploy still running: only the newest deploy is baked.
func (a *StoreActivities) StartBake(ctx context.Context, req BakeRequest) error {
	if a.Temporal == nil {
		return nil
	}
	run, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "bake/" + req.DeploymentID, TaskQueue: a.Config.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
		StaticSummary:            fmt.Sprintf("Bake revision %d of %s for %s", req.Revision, req.DeploymentID, req.Settings.BakePeriod),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword("RewindDeployment").ValueSet(req.DeploymentID),
			temporal.NewSearchAttributeKeyKeyword("RewindKind").ValueSet("bake")),
	}, "BakeWorkflow", req)
	if err != nil {
		return err
	}
	// Only a bake a landed deploy started may decide a rollback (R22): a
	// bake started by hand is not recorded. A bake lasts at most a day.
	now := time.Now()
	return a.Store.RecordBakeRun(ctx, run.GetRunID(), req.DeploymentID, req.Revision, now, now.Add(-48*time.Hour))
}

func clipDescription(s string) string {
	if r := []rune(s); len(r) > 500 {
		return string(r[:499]) + "…"
	}
	return s
}

// mayRollBackAutomatically authorises a rollback requested as rewind
// (automatic) by the decision a failed bake recorded for exactly this input
// (StartAutomaticRollback), used once and recently, while the deployment
// still has automatic rollback on; it then runs under the permissions of
// whoever enabled the bake (R22, R10). Nothing in the rollback's own input
// can stand in for the decision. The requester counts as verified: the
// decision was recorded by a worker.
func (a *StoreActivities) mayRollBackAutomatically(ctx context.Context, c RollbackCheck) (domain.Deployment, bool, error) {
	info := activity.GetInfo(ctx)
	dec, ok, err := a.Store.UseBakeDecision(ctx, c.DeploymentID, c.InputDigest, info.WorkflowExecution.RunID, time.Now().Add(-identity.MaxAge))
	if err != nil {
		return domain.Deployment{}, false, err
	}
	if !ok {
		activity.GetLogger(ctx).Warn("automatic rollback without a bake's decision: refused", "deployment", c.DeploymentID, "revision", c.Revision)
		return domain.Deployment{}, false, refuse(policy.CheckAutomaticRollback(false, "", policy.Permissions{}, domain.Deployment{ID: c.DeploymentID}))
	}
	d, err := a.Store.GetDeployment(ctx, c.DeploymentID)
	if err != nil {
		return d, false, refuse(err)
	}
	if d.AutoRollback == nil || !d.AutoRollback.Enabled {
		return d, false, refuse(domain.Errorf(domain.PermissionDenied, "automatic rollback was switched off on deployment %s after the bake decided; nothing rolls back", d.ID))
	}
	grants, err := a.Store.GrantsFor(ctx, dec.EnabledBy)
	if err != nil {
		return d, false, err
	}
	if err := policy.CheckAutomaticRollback(true, dec.EnabledBy, policy.Effective(grants, d.ID), d); err != nil {
		return d, false, refuse(err)
	}
	return d, true, nil
}
