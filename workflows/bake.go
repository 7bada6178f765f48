package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/termsafe"
)

// BakeWorkflowName bakes a deploy: it watches the new revision for a while
// and rolls it back, as rewind itself, if it is bad (issue 16).
const BakeWorkflowName = "BakeWorkflow"

// KindBake is RewindKind for a bake.
const KindBake = "bake"

// BakeResult says how a bake ended.
type BakeResult struct {
	Outcome  string `json:"outcome"` // passed, ended, rolled-back
	Probes   int    `json:"probes"`
	Evidence string `json:"evidence,omitempty"`
	Rollback string `json:"rollback,omitempty"` // its workflow and run
}

var probeOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 2 * time.Minute, ScheduleToCloseTimeout: 10 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
}

// BakeWorkflow probes the scheduler every interval for the bake period.
// After the configured number of failed probes in a row — the scheduler
// unhealthy, or more DAG import errors than before the deploy — it starts a
// rollback to the revision the deploy replaced, requested by rewind
// (automatic) with the evidence as its description. A change that lands
// meanwhile (a person deploying or rolling back) ends the bake. It holds no
// lock: it is not a change. Every decision is logged and exported (R13).
func BakeWorkflow(ctx workflow.Context, in activities.BakeRequest) (res *BakeResult, err error) {
	t, err := newTracker(ctx, KindBake, "bake")
	if err != nil {
		return nil, err
	}
	t.about(in.DeploymentID, domain.AutomaticRequester)
	t.p.Revision = in.Revision
	res = &BakeResult{}
	defer func() {
		t.finish(err)
		exportEvents(ctx, t)
	}()
	s := in.Settings
	t.emit("bake", eslog.LevelInfo, fmt.Sprintf("baking revision %d for %s: probing every %s, rolling back to %d after %d failed probes in a row",
		in.Revision, s.BakePeriod, s.Interval, in.Previous, s.Failures), nil)
	var hctx workflow.Context
	if hctx, err = hostOf(ctx, in.DeploymentID); err != nil {
		return res, err
	}
	actx := onHost(hctx, probeOptions)
	deadline := workflow.Now(ctx).Add(s.BakePeriod)
	failures := 0
	for workflow.Now(ctx).Before(deadline) {
		if err := workflow.Sleep(ctx, s.Interval); err != nil {
			return res, err
		}
		var p activities.ProbeResult
		if err := workflow.ExecuteActivity(actx, hostActs.Probe, activities.ProbeRequest{DeploymentID: in.DeploymentID, Revision: in.Revision}).Get(ctx, &p); err != nil {
			return res, err
		}
		res.Probes++
		if !p.Current {
			res.Outcome, res.Evidence = "ended", "a change landed during the bake ("+p.Evidence+")"
			t.emit("bake", eslog.LevelInfo, "bake ended: "+res.Evidence, nil)
			return res, nil
		}
		bad := ""
		switch {
		case !p.Healthy:
			bad = "scheduler unhealthy: " + p.Evidence
		case in.Baseline >= 0 && p.ImportErrors > in.Baseline:
			bad = fmt.Sprintf("%d DAG import errors, %d before the deploy", p.ImportErrors, in.Baseline)
		}
		if bad == "" {
			failures = 0
			t.emit("probe", eslog.LevelInfo, fmt.Sprintf("probe %d: healthy, %d import errors", res.Probes, p.ImportErrors), nil)
			continue
		}
		failures++
		t.emit("probe", eslog.LevelWarn, fmt.Sprintf("probe %d failed (%d of %d in a row): %s", res.Probes, failures, s.Failures, bad), nil)
		if failures < s.Failures {
			continue
		}
		res.Evidence = fmt.Sprintf("automatic rollback of revision %d after %d failed probes in a row: %s", in.Revision, failures, bad)
		var started string
		ar, err := automaticRollback(in, res.Evidence)
		if err == nil {
			err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeOptions), acts.StartAutomaticRollback, ar).Get(ctx, &started)
		}
		if err != nil {
			res.Outcome = "ended"
			t.emit("bake", eslog.LevelWarn, "the automatic rollback did not start: "+reason(err), nil)
			return res, nil
		}
		res.Outcome, res.Rollback = "rolled-back", started
		t.emit("bake", eslog.LevelWarn, res.Evidence+"; rollback started: "+started, nil)
		notifyChange(ctx, t, notify.AutomaticRollback, domain.Revision{DeploymentID: in.DeploymentID, Number: in.Revision, RollbackOf: in.Previous,
			CreatedBy: domain.AutomaticRequester, RequestedByVerified: true}, res.Evidence)
		return res, nil
	}
	res.Outcome = "passed"
	t.emit("bake", eslog.LevelInfo, fmt.Sprintf("bake passed: %d probes over %s", res.Probes, s.BakePeriod), nil)
	return res, nil
}

// bake starts the bake of a deploy that just landed, when its deployment
// asks for automatic rollback and there is a revision to go back to.
// Histories recorded before automatic rollback replay without it.
func bake(ctx workflow.Context, plan activities.DeployPlan, rev domain.Revision) {
	ar := plan.Deployment.AutoRollback
	if ar == nil || !ar.Enabled || plan.Current == nil {
		return
	}
	if workflow.GetVersion(ctx, "bake", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeOptions), acts.StartBake, activities.BakeRequest{
		DeploymentID: rev.DeploymentID, Revision: rev.Number, Previous: plan.Current.Number, Baseline: plan.ImportErrorsBefore, Settings: *ar}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("could not start the bake", "error", err)
	}
}

// automaticRollback is the rollback a failed bake asks for: RollbackWorkflow's
// input and its canonical digest, which the bake's recorded decision
// carries and the rollback must match (R22). The evidence quotes what the
// scheduler printed: it is made printable, as every description must be.
func automaticRollback(in activities.BakeRequest, evidence string) (activities.AutomaticRollback, error) {
	rin := RollbackInput{DeploymentID: in.DeploymentID, Revision: in.Previous, Description: clipRunes(termsafe.Line(evidence), policy.MaxDescription),
		RequestedBy: domain.AutomaticRequester, Scope: policy.ScopeAll}
	raw, err := json.Marshal(rin)
	return activities.AutomaticRollback{DeploymentID: in.DeploymentID, Revision: in.Revision, Target: in.Previous, Evidence: evidence,
		Input: raw, InputDigest: rin.Digest(), Settings: in.Settings}, err
}

func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
